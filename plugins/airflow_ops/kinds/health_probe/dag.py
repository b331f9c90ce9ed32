"""``kind: health_probe``: check every component, fail naming the unhealthy ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG

from airflow_ops.kind import Kind
from airflow_ops.kinds.health_probe import tasks
from airflow_ops.params import form_param
from airflow_ops.steps import step


def build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    dag_kwargs["params"] = {
        "thresholds": form_param(
            dict(spec["thresholds"]),
            type="object",
            description="Override thresholds for this run (keys as in the YAML `thresholds`).",
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        # One step: checks, report, verdict. Retrying a failed verdict would only delay the alert.
        step(
            tasks.probe,
            spec=spec,
            kind=kind,
            task_id="probe",
            display="Check health, report, verdict",
            report=True,
        )
    return dag
