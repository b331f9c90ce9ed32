"""Grandfather-father-son retention, shared by metadata backups and config exports.

Semantics follow restic's ``--keep-last/--keep-daily/--keep-weekly/--keep-monthly``: keep the
newest ``keep_last`` items, and for the last N *distinct* days (ISO weeks, months) that have an
item, keep the newest item of that day (week, month). Counting only periods that have items
means a pause never eats the remaining history. Callers add their own rules on top (backups:
only verified backups count, the newest verified one is always kept).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_PERIODS: tuple[tuple[str, Callable[[dt.datetime], Hashable]], ...] = (
    ("daily", lambda w: w.date()),
    ("weekly", lambda w: tuple(w.isocalendar())[:2]),
    ("monthly", lambda w: (w.year, w.month)),
)


@dataclass(frozen=True)
class GfsPolicy:
    keep_last: int = 0
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12

    def __post_init__(self) -> None:
        if min(self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly) < 0:
            raise ValueError(f"retention counts must be >= 0 (got {self})")

    def reasons(self, items: Sequence[T], when: Callable[[T], dt.datetime]) -> list[list[str]]:
        """Why each item is kept, in the order of ``items``; an empty list means it expires."""
        newest_first = sorted(range(len(items)), key=lambda i: when(items[i]), reverse=True)
        why: list[list[str]] = [[] for _ in items]
        for i in newest_first[: self.keep_last]:
            why[i].append("last")
        limits = (self.keep_daily, self.keep_weekly, self.keep_monthly)
        for (label, period), limit in zip(_PERIODS, limits, strict=True):
            seen: set[Hashable] = set()
            for i in newest_first:
                if len(seen) >= limit:
                    break
                key = period(when(items[i]))
                if key not in seen:
                    seen.add(key)
                    why[i].append(label)
        return why

    def select_kept(self, items: Sequence[T], when: Callable[[T], dt.datetime]) -> list[T]:
        """The items this policy keeps, newest first."""
        return sorted(self._partition(items, when)[True], key=when, reverse=True)

    def select_expired(self, items: Sequence[T], when: Callable[[T], dt.datetime]) -> list[T]:
        """The items this policy lets go, oldest first."""
        return sorted(self._partition(items, when)[False], key=when)

    def _partition(self, items: Sequence[T], when: Callable[[T], dt.datetime]) -> dict[bool, list[T]]:
        """``{True: kept, False: expired}``, each in the order of ``items``."""
        out: dict[bool, list[T]] = {True: [], False: []}
        for item, why in zip(items, self.reasons(items, when), strict=True):
            out[bool(why)].append(item)
        return out
