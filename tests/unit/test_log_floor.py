"""The free-space floor's arithmetic: how much must go, and which cutoff frees it oldest-first."""

from __future__ import annotations

import os

import pytest

from airflow_ops.logcleanup.floor import BUCKET_S, AgeHistogram, FloorPolicy, cutoff_for, free_deficit

MB = 1 << 20


def _statvfs(total_mb: int, free_mb: int, frsize: int = 4096) -> os.statvfs_result:
    blocks, free = total_mb * MB // frsize, free_mb * MB // frsize
    return os.statvfs_result((frsize, frsize, blocks, free, free, 100, 50, 50, 0, 255))


@pytest.mark.parametrize(
    ("total", "free", "pct", "pending", "needed"),
    [
        (100, 50, 50, 0, 0),
        (100, 40, 50, 0, 10 * MB),
        (100, 40, 50, 4 * MB, 6 * MB),  # a dry run's age rule would free 4 MB already
        (100, 40, 50, 20 * MB, 0),
        (100, 0, 10, 0, 10 * MB),
        (1000, 999, 99.95, 0, 0),
    ],
)
def test_the_free_space_deficit(total: int, free: int, pct: float, pending: int, needed: int) -> None:
    got = free_deficit(_statvfs(total, free), pct, pending)
    if pct == 99.95:
        assert got == (999.5 - 999) * MB  # rounded up to whole bytes
    else:
        assert got == needed


def _hist(*files: tuple[float, int]) -> AgeHistogram:
    h = AgeHistogram()
    for mtime, size in files:
        h.add(mtime, size)
    return h


def test_files_of_one_bucket_add_up_and_histograms_merge() -> None:
    h = _hist((0, 1), (BUCKET_S - 1, 2), (BUCKET_S, 4))
    assert h.buckets == {0: 3, 1: 4} and h.total == 7
    assert AgeHistogram.merged([h, _hist((10, 5))]).buckets == {0: 8, 1: 4}


def test_the_cutoff_takes_the_oldest_buckets_until_enough_is_planned() -> None:
    day = 86_400
    h = _hist((1 * day, 10), (2 * day, 20), (3 * day, 30), (4 * day, 40))
    cut = cutoff_for(h, 25, latest=10 * day)
    # days 1 and 2 (30 bytes) are enough: everything modified before the end of day 2's bucket goes
    assert cut.cutoff == 2 * day + BUCKET_S and cut.planned == 30 and cut.met
    assert cutoff_for(h, 30, latest=10 * day).cutoff == 2 * day + BUCKET_S
    assert cutoff_for(h, 31, latest=10 * day).planned == 60


def test_nothing_needed_is_no_cutoff() -> None:
    assert cutoff_for(_hist((0, 10)), 0, latest=1e9).cutoff is None
    assert cutoff_for(_hist((0, 10)), -5, latest=1e9).met


def test_the_cutoff_never_passes_the_retention_limit_and_says_so() -> None:
    day = 86_400
    h = _hist((1 * day, 10), (2 * day, 20), (5 * day, 1000))
    cut = cutoff_for(h, 500, latest=3 * day)
    assert cut.cutoff == 3 * day and cut.planned == 30 and not cut.met  # day 5 is too new
    none_old = cutoff_for(_hist((5 * day, 10)), 5, latest=3 * day)
    assert none_old.cutoff is None and not none_old.met


def test_a_bucket_straddling_the_limit_is_not_counted() -> None:
    limit = 10 * BUCKET_S + 100  # inside bucket 10
    cut = cutoff_for(_hist((10 * BUCKET_S + 5, 50)), 10, latest=limit)
    assert cut.planned == 0 and not cut.met


def test_the_policy_is_active_only_with_a_limit() -> None:
    assert not FloorPolicy().active
    assert FloorPolicy(min_free_pct=10).active and FloorPolicy(max_log_bytes=1).active
