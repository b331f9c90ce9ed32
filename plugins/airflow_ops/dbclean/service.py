"""One purge run: every retention group and window of ``airflow db clean`` (Airflow-free domain code).

Rows deleted are counted from the archive tables the run created (``airflow db clean`` prints no
counts outside a dry run).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ops.connections import PostgresTarget
from airflow_ops.dbclean import runner
from airflow_ops.dbclean.plan import groups, refuse_future_cutoff, windows
from airflow_ops.dbclean.tables import cleanable


@dataclass(frozen=True)
class CleanSettings:
    tables: list[str]
    retention_days: Mapping[str, int]
    batch_size: int
    window_days: int
    max_windows: int
    timeout_s: float


def run_clean(
    target: PostgresTarget, settings: CleanSettings, dry_run: bool, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Clean every group in windows (a dry run counts once, at the final cutoff); return per-table rows."""
    now = now or dt.datetime.now(dt.UTC)
    here, unknown_here = cleanable(settings.tables)
    plan = groups(here, dict(settings.retention_days))
    finals = [group.final_cutoff(now) for group in plan]  # refused here, before the DB is touched
    cli = runner.DbCli(target, timeout_s=settings.timeout_s)
    all_tables = list(dict.fromkeys(t for g in plan for t in g.effective))
    before = runner.count_rows(target, all_tables)
    archives_before = set(runner.archive_tables(target))
    would: dict[str, int] = {}
    invocations: list[dict[str, Any]] = []
    started = time.monotonic()
    for group, final in zip(plan, finals, strict=True):
        if dry_run:
            cutoffs = [final]
        else:
            cutoffs = windows(
                runner.oldest_row(target, group.effective), final, settings.window_days, settings.max_windows
            )
        for cutoff in cutoffs:
            t0 = time.monotonic()
            found = cli.clean(
                refuse_future_cutoff(cutoff, now), list(group.tables), settings.batch_size, dry_run
            )
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
    state_store = cli.state_store_clean(dry_run)
    after = runner.count_rows(target, all_tables)
    deleted: dict[str, int] = {}
    for name, rows in runner.archive_tables(target).items():
        if name not in archives_before:
            src = runner.source_table(name)
            deleted[src] = deleted.get(src, 0) + rows
    purged = would if dry_run else deleted
    tables = [
        {
            "table": t,
            "retention_days": settings.retention_days.get(t),
            "rows_before": before.get(t),
            "rows_after": after.get(t),
            "rows_purged": purged.get(t, 0),
        }
        for t in all_tables
        if t in before
    ]
    return {
        "dry_run": dry_run,
        "tables": tables,
        "invocations": invocations,
        "seconds": round(time.monotonic() - started, 2),
        "not_on_this_airflow": unknown_here,
        "state_store_clean": None if state_store is None else "ran" + (" (dry run)" if dry_run else ""),
    }
