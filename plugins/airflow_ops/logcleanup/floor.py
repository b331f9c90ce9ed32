"""The free-space floor: when the age rule leaves a volume too full, delete the oldest logs first.

Two limits, either or both: ``min_free_pct`` (free space of each root's volume, as ``df`` counts it
for an unprivileged user) and ``max_log_bytes`` (the logs of all roots of the worker together). The
age sweep records the bytes of every file it keeps in 5-minute buckets of modification time
(:class:`AgeHistogram`, bounded memory); the floor then picks the cutoff that frees enough, oldest
bucket first, and a second sweep deletes every file older than that cutoff with all of the sweep's
rules (``O_NOFOLLOW`` walk, unreadable and changed files kept, archive before delete).

The floor never deletes a file newer than ``min_retention_hours`` nor inside the safety window,
whichever is longer: when the limit cannot be met without that, it frees what it may and says so.
Per-DAG retentions longer than the floor's cutoff give way to it (a full disk stops every task);
shorter ones still apply.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

BUCKET_S = 300


@dataclass(frozen=True)
class FloorPolicy:
    min_free_pct: float | None = None
    max_log_bytes: int | None = None
    #: the floor never deletes a file modified less than this many hours ago
    min_retention_hours: float = 24.0

    @property
    def active(self) -> bool:
        return self.min_free_pct is not None or self.max_log_bytes is not None


@dataclass
class AgeHistogram:
    """Bytes of the files the age rule kept, per :data:`BUCKET_S` seconds of modification time."""

    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, mtime: float, size: int) -> None:
        key = int(mtime // BUCKET_S)
        self.buckets[key] = self.buckets.get(key, 0) + size

    @property
    def total(self) -> int:
        return sum(self.buckets.values())

    @classmethod
    def merged(cls, parts: Iterable[AgeHistogram]) -> AgeHistogram:
        out = cls()
        for part in parts:
            for key, size in part.buckets.items():
                out.buckets[key] = out.buckets.get(key, 0) + size
        return out


def free_deficit(statvfs: os.statvfs_result, min_free_pct: float, pending_bytes: int = 0) -> int:
    """Bytes to free so that ``min_free_pct`` of the volume is free (``pending_bytes``: to be freed
    already, by a dry run's age rule)."""
    total = statvfs.f_blocks * statvfs.f_frsize
    free = statvfs.f_bavail * statvfs.f_frsize + pending_bytes
    return max(0, math.ceil(total * min_free_pct / 100) - free)


@dataclass(frozen=True)
class FloorCut:
    """Delete every file modified before ``cutoff`` (None: nothing to do): ``planned`` bytes of the
    histogram lie before it; ``met`` is False when even the latest allowed cutoff falls short."""

    cutoff: float | None
    planned: int
    needed: int
    met: bool


def cutoff_for(hist: AgeHistogram, needed: int, latest: float) -> FloorCut:
    """The earliest cutoff, at bucket granularity and never after ``latest``, that frees ``needed``."""
    if needed <= 0:
        return FloorCut(None, 0, needed, True)
    planned = 0
    for key in sorted(hist.buckets):
        end = (key + 1) * BUCKET_S
        if end > latest:
            break  # the bucket holds files too new to delete (the cut is not exact inside it)
        planned += hist.buckets[key]
        if planned >= needed:
            return FloorCut(float(end), planned, needed, True)
    return FloorCut(latest if planned else None, planned, needed, False)
