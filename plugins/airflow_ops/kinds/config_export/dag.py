"""``kind: config_export``: export Variables and Connections, encrypted, diffed, retained."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG

from airflow_ops.kind import Kind
from airflow_ops.kinds.config_export import tasks
from airflow_ops.params import form_param
from airflow_ops.steps import step


def build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    dag_kwargs["params"] = {
        "dry_run": form_param(
            False, type="boolean", description="Read and diff only: upload nothing, delete nothing."
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        export = step(
            tasks.export, spec=spec, kind=kind, task_id="export", display="Export variables and connections"
        )
        retention = step(
            tasks.retention,
            spec=spec,
            kind=kind,
            task_id="apply_retention",
            display="Apply retention",
            upstream={"exported": export},
        )
        step(
            tasks.report,
            spec=spec,
            kind=kind,
            task_id="report",
            display="Report",
            upstream={"exported": export, "retention": retention},
            report=True,
        )
    return dag
