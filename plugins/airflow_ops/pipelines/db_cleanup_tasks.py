"""Task bodies of the metadata DB cleanup DAG (imported inside tasks, so parsing stays cheap)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any

from airflow_ops.config.db_cleanup import DbCleanupConfig
from airflow_ops.connections import PostgresTarget, postgres_target
from airflow_ops.dbclean import runner
from airflow_ops.dbclean.backup_gate import BackupNotVerifiedError, check_latest_backup, require_recent_backup
from airflow_ops.dbclean.plan import groups, windows
from airflow_ops.report import RunReport, publish

log = logging.getLogger(__name__)


def _s3(cfg: DbCleanupConfig) -> Any:
    from airflow_ops.connections import s3_client

    return s3_client(cfg.aws_conn_id)


def check_backup(cfg: DbCleanupConfig, params: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    status = check_latest_backup(_s3(cfg), cfg.backup_bucket, cfg.backup_prefix, cfg.max_backup_age_hours)
    try:
        warnings = require_recent_backup(status, bool(params.get("skip_backup_check")))
    except BackupNotVerifiedError as exc:
        # Retrying cannot make a backup appear: fail now, the notifier says why.
        raise AirflowFailException(str(exc)) from None
    log.info("Backup gate: %s", status.reason)
    return {**status.__dict__, "warnings": warnings}


def run_clean(
    cfg: DbCleanupConfig, target: PostgresTarget, dry_run: bool, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Every group and window of one run; rows deleted are counted from the new archive tables."""
    now = now or dt.datetime.now(dt.UTC)
    cli = runner.DbCli(target, timeout_s=cfg.command_timeout_minutes * 60)
    plan = groups(cfg.tables, {t: cfg.days_for(t) for t in cfg.tables})
    all_tables = list(dict.fromkeys(t for g in plan for t in g.effective))
    before = runner.count_rows(target, all_tables)
    archives_before = set(runner.archive_tables(target))
    would: dict[str, int] = {}
    invocations: list[dict[str, Any]] = []
    started = time.monotonic()
    for group in plan:
        final = group.final_cutoff(now)
        if dry_run:
            cutoffs = [final]  # a dry run counts cumulatively: one look at the final cutoff
        else:
            cutoffs = windows(
                runner.oldest_row(target, group.effective), final, cfg.window_days, cfg.max_windows
            )
        for cutoff in cutoffs:
            t0 = time.monotonic()
            found = cli.clean(cutoff, list(group.tables), cfg.batch_size, dry_run)
            invocations.append(
                {
                    "retention_days": group.retention_days,
                    "tables": ",".join(group.tables),
                    "cutoff": cutoff.isoformat(),
                    "seconds": round(time.monotonic() - t0, 2),
                }
            )
            if dry_run:
                for table, n in found.items():
                    would[table] = would.get(table, 0) + n
    after = runner.count_rows(target, all_tables)
    deleted: dict[str, int] = {}
    for name, rows in runner.archive_tables(target).items():
        if name not in archives_before:
            src = runner.source_table(name)
            deleted[src] = deleted.get(src, 0) + rows
    tables = [
        {
            "table": t,
            "retention_days": cfg.days_for(t) if t in cfg.tables else None,
            "rows_before": before.get(t),
            "rows_after": after.get(t),
            ("would_delete" if dry_run else "deleted"): (would if dry_run else deleted).get(t, 0),
        }
        for t in all_tables
        if t in before
    ]
    return {
        "dry_run": dry_run,
        "tables": tables,
        "invocations": invocations,
        "seconds": round(time.monotonic() - started, 2),
    }


def clean(cfg: DbCleanupConfig, params: dict[str, Any]) -> dict[str, Any]:
    target = postgres_target(cfg.metadata_db_conn_id)
    return run_clean(cfg, target, bool(params.get("dry_run")))


def archive(cfg: DbCleanupConfig, cleaned: dict[str, Any], run_id: str) -> dict[str, Any]:
    if cleaned["dry_run"]:
        return {"archive_tables": 0, "objects": [], "dropped": False, "skipped": "dry run"}
    target = postgres_target(cfg.metadata_db_conn_id)
    cli = runner.DbCli(target, timeout_s=cfg.command_timeout_minutes * 60)
    key_prefix = f"{cfg.archive_prefix.strip('/')}/{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)}"
    result = runner.export_and_drop(cli, _s3(cfg), cfg.archive_bucket, key_prefix)
    result["bucket"] = cfg.archive_bucket
    result["prefix"] = key_prefix
    return result


def report(
    cfg: DbCleanupConfig,
    gate: dict[str, Any],
    cleaned: dict[str, Any],
    archived: dict[str, Any],
    dag_id: str,
    run_id: str,
) -> dict[str, Any]:
    dry_run = cleaned["dry_run"]
    key = "would_delete" if dry_run else "deleted"
    total = sum(t[key] for t in cleaned["tables"])
    rep = RunReport(
        dag_id=dag_id,
        run_id=run_id,
        title="Metadata DB cleanup (dry run)" if dry_run else "Metadata DB cleanup",
        ok=True,
        summary={
            "mode": "dry run: nothing deleted" if dry_run else "purge",
            "rows_" + ("would_delete" if dry_run else "deleted"): total,
            "backup": gate["reason"],
            "windows": len(cleaned["invocations"]),
            "archive": (
                f"{archived['archive_tables']} tables -> s3://{archived['bucket']}/{archived['prefix']}/"
                if archived.get("archive_tables")
                else "nothing to archive"
            ),
            "archive_dropped": archived.get("dropped", False),
            "duration_s": cleaned["seconds"],
        },
        rows=cleaned["tables"],
        warnings=list(gate.get("warnings") or []),
    )
    return publish(rep, cfg.note_conn_id)


# -- step entry points (MaintenanceStep calls these with the config and the task context) ------------
def check_backup_step(cfg: DbCleanupConfig, context: Any) -> dict[str, Any]:
    return check_backup(cfg, dict(context.get("params") or {}))


def clean_step(cfg: DbCleanupConfig, context: Any) -> dict[str, Any]:
    return clean(cfg, dict(context.get("params") or {}))


def archive_step(cfg: DbCleanupConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import upstream

    return archive(cfg, upstream(context, "clean"), context["dag_run"].run_id)


def report_step(cfg: DbCleanupConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import upstream

    dag_run = context["dag_run"]
    return report(
        cfg,
        upstream(context, "check_backup"),
        upstream(context, "clean"),
        upstream(context, "archive"),
        dag_run.dag_id,
        dag_run.run_id,
    )
