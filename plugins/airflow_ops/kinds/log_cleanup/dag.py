"""``kind: log_cleanup``: one sweep task per worker queue, then one report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG

from airflow_ops.kind import Kind
from airflow_ops.kinds.log_cleanup import tasks
from airflow_ops.params import form_param
from airflow_ops.steps import step


def sweep_task_id(queue: str) -> str:
    return f"sweep_{queue.replace('-', '_')}"


def build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    queues: list[str] = list(spec["worker_queues"])
    dag_kwargs["params"] = {
        "retention_days": form_param(
            spec["retention_days"],
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
            step(
                tasks.sweep,
                spec=spec,
                kind=kind,
                task_id=sweep_task_id(q),
                display=f"Sweep logs ({q})",
                queue=q,
            )
            for q in queues
        ]
        # On the first worker queue: a queue listed in config is known to have a consumer.
        step(
            tasks.report,
            spec=spec,
            kind=kind,
            task_id="report",
            display="Report",
            queue=queues[0],
            upstream={"sweeps": sweeps},
            report=True,
        )
    return dag
