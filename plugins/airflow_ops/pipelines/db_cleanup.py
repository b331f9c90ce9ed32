"""``kind: db_cleanup``: backup gate, ``airflow db clean`` in windows, archive to S3, drop, report."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from airflow_ops.config.db_cleanup import BACKUP_ASSET_SCHEDULE, DbCleanupConfig
from airflow_ops.params import form_param
from airflow_ops.steps import maintenance_step

_TASKS = "airflow_ops.pipelines.db_cleanup_tasks"


def build(cfg: DbCleanupConfig, dag_kwargs: dict[str, Any]) -> DAG:
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
                f"Purge even if the latest verified backup is older than {cfg.max_backup_age_hours:g} h."
            ),
        ),
    }
    with DAG(schedule=schedule, **dag_kwargs) as dag:
        gate = maintenance_step(
            task_id="check_backup",
            task_display_name="Require a recent verified backup",
            step=f"{_TASKS}:check_backup_step",
            cfg=cfg,
        )
        clean = maintenance_step(
            task_id="clean",
            task_display_name="airflow db clean (windows)",
            step=f"{_TASKS}:clean_step",
            cfg=cfg,
        )
        archive = maintenance_step(
            task_id="archive",
            task_display_name="Export archive to S3, then drop it",
            step=f"{_TASKS}:archive_step",
            cfg=cfg,
        )
        report = maintenance_step(
            task_id="report", task_display_name="Report", step=f"{_TASKS}:report_step", cfg=cfg, retries=0
        )
        gate >> clean >> archive >> report
    return dag
