"""The free-space floor on a real small filesystem: a 16 MB tmpfs filled by the test.

The age rule (30 days) deletes nothing here; the floor then deletes the oldest logs until the limit
holds, never a file inside ``min_retention_hours`` or the safety window, and a dry run deletes
nothing but counts the same files.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_ops.logcleanup.floor import FloorPolicy
from airflow_ops.logcleanup.roots import LogRoot
from airflow_ops.logcleanup.service import sweep_roots
from airflow_ops.logcleanup.sweep import RetentionPolicy

MB = 1 << 20
DAY = 86_400
NOW = time.time()


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of its own (the test runs as root, as CI does; it does not skip)."""
    mnt = tmp_path / "vol"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(root: Path, ages_days: list[float], size: int = MB) -> list[Path]:
    """One ``size`` log file per age, in Airflow's task log layout, oldest first."""
    files = []
    for n, age in enumerate(ages_days):
        path = root / f"dag_id=dag_{n % 3}" / f"run_id=r{n}" / "task_id=t" / "attempt=1.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        os.utime(path, (NOW - age * DAY, NOW - age * DAY))
        files.append(path)
    return files


def _free_pct(path: Path) -> float:
    st = os.statvfs(path)
    return 100 * st.f_bavail / st.f_blocks


def _sweep(root: Path, floor: FloorPolicy, dry_run: bool = False) -> dict[str, object]:
    policy = RetentionPolicy(30, {"dag_1": 60}, safety_window_hours=24, now=NOW)
    [stats] = sweep_roots([LogRoot("task", str(root), True)], policy, dry_run=dry_run, floor=floor)
    return stats.to_dict()


def test_the_floor_deletes_the_oldest_logs_until_enough_is_free(volume: Path) -> None:
    files = _fill(volume, [20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0.5])  # 11 MB of 16: ~31% free
    assert _free_pct(volume) < 35
    stats = _sweep(volume, FloorPolicy(min_free_pct=60, min_retention_hours=36))
    gone = [f for f in files if not f.exists()]
    # 60% of 16 MB free needs ~4.6 MB more: the five oldest files, oldest first; dag_1's 60-day
    # retention gives way to the floor
    assert gone == files[:5], [f.name for f in gone]
    assert _free_pct(volume) >= 60
    assert stats["floor_files"] == 5 and stats["floor_bytes"] == 5 * MB
    assert stats["files_deleted"] == 5 and stats["floor_note"] is None


def test_the_floor_never_deletes_inside_min_retention_and_says_it_is_not_met(volume: Path) -> None:
    files = _fill(volume, [3, 2.5, 1.2, 1.0, 0.6, 0.2] * 2)  # 12 MB, all of it less than 4 days old
    stats = _sweep(volume, FloorPolicy(min_free_pct=90, min_retention_hours=48))
    kept = [f for f in files if f.exists()]
    assert all(os.stat(f).st_mtime >= NOW - 2 * DAY for f in kept)
    assert {f for f in files if not f.exists()} == {files[0], files[1], files[6], files[7]}
    assert "not met" in str(stats["floor_note"]) and "48 h" in str(stats["floor_note"])


def test_a_dry_run_counts_the_same_files_and_deletes_none(volume: Path) -> None:
    files = _fill(volume, [20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0.5])
    stats = _sweep(volume, FloorPolicy(min_free_pct=60, min_retention_hours=36), dry_run=True)
    assert all(f.exists() for f in files)
    assert stats["floor_files"] == 5 and stats["floor_bytes"] == 5 * MB and stats["dry_run"] is True


def test_a_size_cap_keeps_the_newest_logs_within_it(volume: Path) -> None:
    files = _fill(volume, [9, 8, 7, 6, 5, 4, 3])
    stats = _sweep(volume, FloorPolicy(max_log_bytes=3 * MB, min_retention_hours=24))
    assert [f.exists() for f in files] == [False] * 4 + [True] * 3
    assert stats["floor_bytes"] == 4 * MB


def test_no_limit_exceeded_means_no_second_sweep(volume: Path) -> None:
    files = _fill(volume, [9, 8, 7])
    stats = _sweep(volume, FloorPolicy(min_free_pct=50, max_log_bytes=10 * MB))
    assert all(f.exists() for f in files)
    assert stats["floor_files"] == 0 and stats["floor_cutoff"] is None
