"""``kind: log_cleanup``: one sweep task per worker queue, then one report."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from airflow_ops.config.log_cleanup import LogCleanupConfig
from airflow_ops.params import form_param
from airflow_ops.steps import maintenance_step

_TASKS = "airflow_ops.pipelines.log_cleanup_tasks"


def sweep_task_id(queue: str) -> str:
    return f"sweep_{queue.replace('-', '_')}"


def build(cfg: LogCleanupConfig, dag_kwargs: dict[str, Any]) -> DAG:
    dag_kwargs["params"] = {
        "retention_days": form_param(
            cfg.retention_days,
            type="integer",
            minimum=1,
            description="Delete log files older than this many days (per-DAG overrides still apply).",
        ),
        "dry_run": form_param(
            False, type="boolean", description="List what would be deleted; delete nothing."
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        # One task per queue, so each Celery worker (each disk) is cleaned exactly once.
        sweeps = [
            maintenance_step(
                task_id=sweep_task_id(q),
                task_display_name=f"Sweep logs ({q})",
                queue=q,
                step=f"{_TASKS}:sweep_step",
                cfg=cfg,
            )
            for q in cfg.worker_queues
        ]
        # On the first worker queue: a queue listed in config is known to have a consumer.
        report = maintenance_step(
            task_id="report",
            task_display_name="Report",
            queue=cfg.worker_queues[0],
            step=f"{_TASKS}:report_step",
            cfg=cfg,
            retries=0,
        )
        sweeps >> report
    return dag
