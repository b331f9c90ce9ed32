"""``kind: db_cleanup``: backup gate, ``airflow db clean`` in windows, archive to S3, drop, report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG

from airflow_ops.kind import Kind
from airflow_ops.kinds.db_cleanup import BACKUP_ASSET_SCHEDULE, tasks
from airflow_ops.params import form_param
from airflow_ops.steps import step


def build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    schedule: Any = dag_kwargs.pop("schedule")
    if schedule == BACKUP_ASSET_SCHEDULE:
        from airflow_ops.assets import METADATA_BACKUP_VERIFIED_REF

        schedule = METADATA_BACKUP_VERIFIED_REF
    dag_kwargs["params"] = {
        "dry_run": form_param(
            False, type="boolean", description="Count what would be purged; delete nothing."
        ),
        "skip_backup_check": form_param(
            False,
            type="boolean",
            description=(
                f"Purge even if the latest verified backup is older than {spec['max_backup_age_hours']:g} h."
            ),
        ),
    }
    with DAG(schedule=schedule, **dag_kwargs) as dag:
        gate = step(
            tasks.check_backup,
            spec=spec,
            kind=kind,
            task_id="check_backup",
            display="Require a recent verified backup",
        )
        clean = step(
            tasks.clean,
            spec=spec,
            kind=kind,
            task_id="clean",
            display="airflow db clean (windows)",
            after=[gate],
        )
        archive = step(
            tasks.archive,
            spec=spec,
            kind=kind,
            task_id="archive",
            display="Export archive to S3, then drop it",
            upstream={"cleaned": clean},
        )
        step(
            tasks.report,
            spec=spec,
            kind=kind,
            task_id="report",
            display="Report",
            upstream={"gate": gate, "cleaned": clean, "archived": archive},
            report=True,
        )
    return dag
