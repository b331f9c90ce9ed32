"""``kind: metadata_backup``: pg_dump streamed to S3, verified, retained; emits the verified Asset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG

from airflow_ops.assets import METADATA_BACKUP_VERIFIED
from airflow_ops.kind import Kind
from airflow_ops.kinds.metadata_backup import tasks
from airflow_ops.params import form_param
from airflow_ops.steps import step


def build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    dag_kwargs["params"] = {
        "force_full_restore": form_param(
            False, type="boolean", description="Also restore into a scratch DB and compare row counts."
        ),
        "retention_dry_run": form_param(
            spec["retention"]["dry_run"],
            type="boolean",
            description="List expired backups without deleting them.",
        ),
        "pin": form_param(
            "",
            type="string",
            maxLength=300,
            description="Keep this run's backup until unpinned, with this reason (e.g. 'before the 3.3 "
            "upgrade'); empty: no pin. Unpin with `airflow-ops restore-backup --unpin <stamp>`.",
        ),
    }
    with DAG(schedule=dag_kwargs.pop("schedule"), **dag_kwargs) as dag:
        backup = step(tasks.backup, spec=spec, kind=kind, task_id="backup", display="pg_dump to S3")
        verify = step(
            tasks.verify,
            spec=spec,
            kind=kind,
            task_id="verify",
            display="Verify backup",
            upstream={"backup": backup},
            outlets=[METADATA_BACKUP_VERIFIED],
        )
        retention = step(
            tasks.retention,
            spec=spec,
            kind=kind,
            task_id="retention",
            display="Apply retention",
            after=[verify],
        )
        step(
            tasks.report,
            spec=spec,
            kind=kind,
            task_id="report",
            display="Report",
            upstream={"backup": backup, "verified": verify, "retention": retention},
            report=True,
        )
    return dag
