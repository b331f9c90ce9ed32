"""``kind: metadata_backup``: pg_dump streamed to S3, verified, retained; emits the verified Asset."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from airflow_ops.assets import METADATA_BACKUP_VERIFIED
from airflow_ops.config.metadata_backup import MetadataBackupConfig
from airflow_ops.params import form_param
from airflow_ops.steps import maintenance_step

_TASKS = "airflow_ops.pipelines.metadata_backup_tasks"


def build(cfg: MetadataBackupConfig, dag_kwargs: dict[str, Any]) -> DAG:
    dag_kwargs["params"] = {
        "force_full_restore": form_param(
            False, type="boolean", description="Also restore into a scratch DB and compare row counts."
        ),
        "retention_dry_run": form_param(
            cfg.retention.dry_run, type="boolean", description="List expired backups without deleting them."
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        backup = maintenance_step(
            task_id="backup", task_display_name="pg_dump to S3", step=f"{_TASKS}:backup_step", cfg=cfg
        )
        verify = maintenance_step(
            task_id="verify",
            task_display_name="Verify backup",
            step=f"{_TASKS}:verify_step",
            cfg=cfg,
            outlets=[METADATA_BACKUP_VERIFIED],
        )
        retention = maintenance_step(
            task_id="retention", task_display_name="Apply retention", step=f"{_TASKS}:retention_step", cfg=cfg
        )
        report = maintenance_step(
            task_id="report", task_display_name="Report", step=f"{_TASKS}:report_step", cfg=cfg, retries=0
        )
        backup >> verify >> retention >> report
    return dag
