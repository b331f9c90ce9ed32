"""Task glue of the metadata DB cleanup DAG: gather Airflow inputs, call the domain, return results.

Imported at parse time for the step references, so everything heavy is imported inside a step.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ops.dbclean.service import CleanSettings
    from airflow_ops.kinds.db_cleanup.schema import DbCleanupConfig
    from airflow_ops.report import RunReport
    from airflow_ops.steps import Run


def clean_settings(cfg: DbCleanupConfig) -> CleanSettings:
    from airflow_ops.dbclean.service import CleanSettings

    return CleanSettings(
        tables=list(cfg.tables),
        retention_days={t: cfg.days_for(t) for t in cfg.tables},
        batch_size=cfg.batch_size,
        window_days=cfg.window_days,
        max_windows=cfg.max_windows,
        timeout_s=cfg.command_timeout_minutes * 60,
    )


def check_backup(cfg: DbCleanupConfig, run: Run) -> dict[str, Any]:
    import logging

    from airflow_ops.compat import fail_exception

    AirflowFailException = fail_exception()

    from airflow_ops.backup.identity import target_identity
    from airflow_ops.connections import postgres_target, s3_client
    from airflow_ops.dbclean.backup_gate import (
        BackupNotVerifiedError,
        check_latest_backup,
        require_recent_backup,
    )

    client = s3_client(cfg.aws_conn_id)
    database = target_identity(postgres_target(cfg.metadata_db_conn_id, "metadata DB to purge"))
    status = check_latest_backup(
        client, cfg.backup_bucket, cfg.backup_prefix, cfg.max_backup_age_hours, database=database
    )
    try:
        warnings = list(status.notes) + require_recent_backup(
            status, bool(run.param("skip_backup_check", False))
        )
    except BackupNotVerifiedError as exc:
        # Retrying cannot make a backup appear: fail now, the notifier says why.
        raise AirflowFailException(str(exc)) from None
    logging.getLogger(__name__).info("Backup gate: %s", status.reason)
    return {**status.__dict__, "warnings": warnings}


def clean(cfg: DbCleanupConfig, run: Run) -> dict[str, Any]:
    from airflow_ops.connections import postgres_target
    from airflow_ops.dbclean.service import run_clean

    return run_clean(
        postgres_target(cfg.metadata_db_conn_id), clean_settings(cfg), bool(run.param("dry_run", False))
    )


def archive(cfg: DbCleanupConfig, run: Run, cleaned: dict[str, Any]) -> dict[str, Any]:
    from airflow_ops.connections import postgres_target, s3_client
    from airflow_ops.dbclean import runner

    if cleaned["dry_run"]:
        return {"archive_tables": 0, "objects": [], "dropped": False, "skipped": "dry run"}
    target = postgres_target(cfg.metadata_db_conn_id)
    cli = runner.DbCli(target, timeout_s=cfg.command_timeout_minutes * 60)
    key_prefix = f"{cfg.archive_prefix.strip('/')}/{re.sub(r'[^A-Za-z0-9_.-]', '_', run.run_id)}"
    result = runner.export_and_drop(cli, s3_client(cfg.aws_conn_id), cfg.archive_bucket, key_prefix)
    result["bucket"] = cfg.archive_bucket
    result["prefix"] = key_prefix
    return result


def report(
    cfg: DbCleanupConfig, run: Run, gate: dict[str, Any], cleaned: dict[str, Any], archived: dict[str, Any]
) -> RunReport:
    dry_run = cleaned["dry_run"]
    total = sum(t["rows_purged"] for t in cleaned["tables"])
    age = gate.get("age_hours")
    verb = "would purge" if dry_run else "purged"
    return run.report(
        title="Metadata DB cleanup",
        mode="dry_run" if dry_run else "apply",
        ok=True,
        headline=f"{verb} {total} rows in {len(cleaned['tables'])} tables, {cleaned['seconds']:g} s",
        metrics={
            "rows_purged": total,
            "tables": len(cleaned["tables"]),
            "windows": len(cleaned["invocations"]),
            "archive_tables": int(archived.get("archive_tables") or 0),
            "archive_dropped": bool(archived.get("dropped", False)),
            "backup_age_hours": float(age) if age is not None else None,
            "clean_seconds": float(cleaned["seconds"]),
        },
        details={
            "backup": gate["reason"],
            "windows": len(cleaned["invocations"]),
            "archive": (
                f"{archived['archive_tables']} tables -> s3://{archived['bucket']}/{archived['prefix']}/"
                if archived.get("archive_tables")
                else "nothing to archive"
            ),
            "archive_dropped": archived.get("dropped", False),
            "clean s": cleaned["seconds"],
            "state-store clean": cleaned.get("state_store_clean") or "not in this Airflow (3.3+)",
            **(
                {"not in this Airflow's db clean": ", ".join(cleaned["not_on_this_airflow"])}
                if cleaned.get("not_on_this_airflow")
                else {}
            ),
        },
        rows=cleaned["tables"],
        warnings=list(gate.get("warnings") or []),
    )
