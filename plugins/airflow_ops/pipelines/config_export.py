"""``kind: config_export``: export Variables and Connections, encrypted, diffed, retained."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from airflow_ops.config.config_export import ConfigExportConfig
from airflow_ops.params import form_param
from airflow_ops.steps import maintenance_step

_TASKS = "airflow_ops.pipelines.config_export_tasks"


def build(cfg: ConfigExportConfig, dag_kwargs: dict[str, Any]) -> DAG:
    dag_kwargs["params"] = {
        "dry_run": form_param(
            False, type="boolean", description="Read and diff only: upload nothing, delete nothing."
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        export = maintenance_step(
            task_id="export",
            task_display_name="Export variables and connections",
            step=f"{_TASKS}:export_step",
            cfg=cfg,
        )
        retention = maintenance_step(
            task_id="apply_retention",
            task_display_name="Apply retention",
            step=f"{_TASKS}:retention_step",
            cfg=cfg,
        )
        report = maintenance_step(
            task_id="report", task_display_name="Report", step=f"{_TASKS}:report_step", cfg=cfg, retries=0
        )
        export >> retention >> report
    return dag
