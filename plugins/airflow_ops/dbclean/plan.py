"""Turn a config into the ``airflow db clean`` invocations of one run: groups and time windows."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from airflow_ops.dbclean.tables import effective_tables


@dataclass(frozen=True)
class CleanGroup:
    """Tables sharing one retention: one ``airflow db clean --tables`` per window."""

    retention_days: int
    tables: tuple[str, ...]

    @property
    def effective(self) -> list[str]:
        return effective_tables(self.tables)

    def final_cutoff(self, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(days=self.retention_days)


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
