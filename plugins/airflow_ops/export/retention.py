"""Which exports to keep: keep-last-N plus grandfather-father-son (daily, weekly, monthly)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 7
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12

    def select_kept(self, items: Sequence[T], when: Callable[[T], dt.datetime]) -> list[T]:
        """Items to keep: the newest ``keep_last``, and the newest of each of the last N days/weeks/months."""
        ordered = sorted(items, key=when, reverse=True)
        kept: list[T] = list(ordered[: self.keep_last])
        buckets: list[tuple[int, Callable[[dt.datetime], tuple[int, ...]]]] = [
            (self.keep_daily, lambda d: (d.year, d.month, d.day)),
            (self.keep_weekly, lambda d: tuple(d.isocalendar())[:2]),
            (self.keep_monthly, lambda d: (d.year, d.month)),
        ]
        for limit, bucket in buckets:
            seen: list[tuple[int, ...]] = []
            for item in ordered:
                b = bucket(when(item))
                if b in seen:
                    continue
                if len(seen) >= limit:
                    break
                seen.append(b)
                if item not in kept:
                    kept.append(item)
        return kept

    def select_expired(self, items: Sequence[T], when: Callable[[T], dt.datetime]) -> list[T]:
        kept = self.select_kept(items, when)
        return sorted((i for i in items if i not in kept), key=when)
