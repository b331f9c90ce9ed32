"""``kind: health_probe``: check every component, fail naming the unhealthy ones."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from airflow_ops.config.health_probe import HealthProbeConfig
from airflow_ops.params import form_param
from airflow_ops.steps import maintenance_step


def build(cfg: HealthProbeConfig, dag_kwargs: dict[str, Any]) -> DAG:
    dag_kwargs["params"] = {
        "thresholds": form_param(
            cfg.thresholds.model_dump(),
            type="object",
            description="Override thresholds for this run (keys as in the YAML `thresholds`).",
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        # One step: checks, report, verdict. Retrying a failed verdict would only delay the alert.
        maintenance_step(
            task_id="probe",
            task_display_name="Check health, report, verdict",
            step="airflow_ops.pipelines.health_probe_tasks:probe",
            cfg=cfg,
            retries=0,
        )
    return dag
