"""Turn a config into the ``airflow db clean`` invocations of one run: groups and time windows."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from airflow_ops.dbclean.tables import effective_tables
from airflow_ops.exceptions import AirflowOpsError


class FutureCutoffError(AirflowOpsError):
    """A ``db clean`` cutoff that is not in the past: it would purge rows still inside their retention."""


def refuse_future_cutoff(cutoff: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """Return ``cutoff`` when it lies before both ``now`` (the run's clock) and the wall clock; else raise.

    ``airflow db clean --clean-before-timestamp`` trusts its argument: a cutoff at or after now
    purges every row of the table. Checked against the real clock as well, so a wrong ``now``
    from the caller cannot wave one through.
    """
    clock = dt.datetime.now(dt.UTC)
    if cutoff.tzinfo is None:
        raise FutureCutoffError(
            f"refusing to clean: cutoff {cutoff.isoformat()} has no time zone, so it cannot be shown to lie "
            "in the past; pass an aware UTC datetime"
        )
    if cutoff >= clock or (now is not None and cutoff >= now):
        raise FutureCutoffError(
            f"refusing to clean: cutoff {cutoff.isoformat()} is not in the past (now "
            f"{min(clock, now or clock).isoformat()}); airflow db clean would purge rows still inside their "
            "retention: check retention_days and the worker's clock"
        )
    return cutoff


@dataclass(frozen=True)
class CleanGroup:
    """Tables sharing one retention: one ``airflow db clean --tables`` per window."""

    retention_days: int
    tables: tuple[str, ...]

    @property
    def effective(self) -> list[str]:
        return effective_tables(self.tables)

    def final_cutoff(self, now: dt.datetime) -> dt.datetime:
        """Rows older than this go: ``retention_days`` before ``now`` (refused unless in the past)."""
        return refuse_future_cutoff(now - dt.timedelta(days=self.retention_days), now)


def groups(tables: list[str], days_for: dict[str, int]) -> list[CleanGroup]:
    """Group tables by retention, longest first (so a shorter group never pre-empts a dependent)."""
    by_days: dict[int, list[str]] = {}
    for table in tables:
        by_days.setdefault(days_for[table], []).append(table)
    return [CleanGroup(days, tuple(ts)) for days, ts in sorted(by_days.items(), reverse=True)]


def windows(
    oldest: dt.datetime | None, final: dt.datetime, window_days: int, max_windows: int
) -> list[dt.datetime]:
    """Successive cutoffs, oldest first, ending at ``final``; empty when nothing is older than ``final``.

    Each cutoff moves the boundary ``window_days`` forward from the oldest row, so each
    ``airflow db clean`` only deletes about one window's worth of rows. When more than
    ``max_windows`` would be needed, the windows widen evenly instead.
    """
    if oldest is None or oldest >= final:
        return []
    span = (final - oldest).total_seconds()
    step = window_days * 86_400.0
    count = max(1, math.ceil(span / step))
    if count > max_windows:
        count = max_windows
        step = span / count
    cutoffs = [oldest + dt.timedelta(seconds=step * i) for i in range(1, count)]
    cutoffs = [c.replace(microsecond=0) + dt.timedelta(seconds=1) for c in cutoffs]
    return [*[c for c in cutoffs if c < final], final]
