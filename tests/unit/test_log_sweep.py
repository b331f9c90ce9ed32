"""The log sweep's per-file decision, pinned (issue 23): each case states its answer worked out by hand.

The clock is a whole second, so every cutoff is an exact float and a file can sit exactly on it:
retention 30 d at ``NOW`` means a file whose mtime is ``NOW - 30 * 86400`` is kept and one second
older is deleted. Sizes are chosen so that every byte total is a distinct sum.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_ops.logcleanup.sweep import SAMPLE_LIMIT, LogSweeper, RetentionPolicy, RootStats, readable_by_us

NOW = float(int(time.time()))
DAY_S = 86_400
HOUR_S = 3_600


def put(path: Path, mtime: float, size: int = 1) -> Path:
    """A regular file of ``size`` bytes whose mtime is ``mtime`` (seconds since the epoch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def set_dir_mtime(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime), follow_symlinks=False)


def age_all_dirs(root: Path, mtime: float) -> None:
    """Every directory below ``root`` (not ``root``, not through symlinks) gets ``mtime``; deepest first."""
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                set_dir_mtime(p, mtime)


def policy(retention_days: float = 30, **kw: Any) -> RetentionPolicy:
    return RetentionPolicy(retention_days, now=NOW, **kw)


def run(root: Path, pol: RetentionPolicy | None = None, *, dag_layout: bool = False, **kw: Any) -> RootStats:
    kw.setdefault("dry_run", False)
    return LogSweeper(pol or policy(), **kw).sweep("lbl", str(root), dag_layout=dag_layout)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def dirs_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and not p.is_symlink()}


@pytest.fixture
def rmdir_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the sweep asks ``os.rmdir`` to remove (relative to a directory descriptor), in order.

    A directory the sweep knows is not empty must never be tried: the kernel's refusal is a last
    line of defence, not the decision."""
    calls: list[str] = []
    real = os.rmdir

    def spy(path: Any, *, dir_fd: int | None = None) -> None:
        if dir_fd is not None:
            calls.append(str(path))
        real(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "rmdir", spy)
    return calls


# -- the policy's cutoffs ----------------------------------------------------------------------------


def test_the_safety_cutoff_is_now_minus_the_window_in_seconds() -> None:
    assert RetentionPolicy(30, now=1_000_000.0, safety_window_hours=2).safety_cutoff == 992_800.0
    assert RetentionPolicy(30, now=1_000_000.0).safety_cutoff == 913_600.0  # the default window: 24 h


def test_the_retention_cutoff_uses_the_dags_override_else_the_default() -> None:
    pol = RetentionPolicy(10, per_dag_days={"noisy": 2, "": 5}, now=1_000_000.0)
    assert pol.retention_cutoff("noisy") == 1_000_000.0 - 2 * 86_400
    assert pol.retention_cutoff("quiet") == 1_000_000.0 - 10 * 86_400
    assert pol.retention_cutoff(None) == 1_000_000.0 - 10 * 86_400
    # An empty DAG id is no DAG: the default applies even if "" were listed.
    assert pol.retention_cutoff("") == 1_000_000.0 - 10 * 86_400


def test_the_default_clock_is_the_time_the_policy_was_made() -> None:
    before = time.time()
    pol = RetentionPolicy(30)
    assert before <= pol.now <= time.time()
    assert pol.per_dag_days == {}
    assert pol.safety_window_hours == 24.0


# -- age: which files go --------------------------------------------------------------------------


def test_a_file_exactly_at_the_retention_cutoff_is_kept_and_one_second_older_is_deleted(
    tmp_path: Path,
) -> None:
    cutoff = NOW - 30 * DAY_S
    put(tmp_path / "on.log", cutoff, 3)
    put(tmp_path / "older.log", cutoff - 1, 5)
    put(tmp_path / "newer.log", cutoff + 1, 7)
    stats = run(tmp_path)
    assert files_under(tmp_path) == {"on.log", "newer.log"}
    assert (stats.files_deleted, stats.bytes_deleted, stats.files_kept) == (1, 5, 2)
    assert stats.skipped == {}  # kept by retention, not by the safety window
    assert stats.per_dag == {"(other)": [1, 5]}


def test_the_safety_window_wins_over_a_shorter_retention_at_its_exact_boundary(tmp_path: Path) -> None:
    # retention 0.25 d = 6 h; safety window 24 h: the effective cutoff is NOW - 24 h.
    safety = NOW - 24 * HOUR_S
    put(tmp_path / "at-safety.log", safety, 2)
    put(tmp_path / "past-safety.log", safety - 1, 11)
    put(tmp_path / "at-retention.log", NOW - 6 * HOUR_S, 13)
    put(tmp_path / "past-retention.log", NOW - 6 * HOUR_S - 1, 17)
    stats = run(tmp_path, policy(0.25, safety_window_hours=24))
    assert files_under(tmp_path) == {"at-safety.log", "at-retention.log", "past-retention.log"}
    assert (stats.files_deleted, stats.bytes_deleted, stats.files_kept) == (1, 11, 3)
    # Only the files older than the retention (but inside the window) are reported as protected by it.
    assert stats.skipped == {"within_safety_window": 2}
    assert sorted(stats.samples) == [
        "within_safety_window: at-safety.log",
        "within_safety_window: past-retention.log",
    ]


def test_a_longer_safety_window_than_retention_is_not_the_cutoff_when_retention_is_longer(
    tmp_path: Path,
) -> None:
    # retention 2 d, window 1 h: the effective cutoff is NOW - 2 d (the earlier of the two).
    put(tmp_path / "one-day.log", NOW - DAY_S)
    put(tmp_path / "three-days.log", NOW - 3 * DAY_S)
    stats = run(tmp_path, policy(2, safety_window_hours=1))
    assert files_under(tmp_path) == {"one-day.log"}
    assert (stats.files_deleted, stats.files_kept, stats.skipped) == (1, 1, {})


def test_file_ages_are_judged_per_dag_and_the_dag_is_the_first_level_only(tmp_path: Path) -> None:
    old = NOW - 10 * DAY_S  # older than noisy's 3 d, younger than the default 30 d
    put(tmp_path / "dag_id=noisy" / "run_id=r" / "a.log", old, 100)
    put(tmp_path / "dag_id=noisy" / "run_id=s" / "b.log", old, 200)
    put(tmp_path / "dag_id=noisy" / "run_id=s" / "dag_id=quiet" / "c.log", old, 400)  # still noisy
    put(tmp_path / "dag_id=quiet" / "run_id=r" / "d.log", old, 800)
    put(tmp_path / "dag_id=quiet" / "run_id=r" / "e.log", NOW - 40 * DAY_S, 1600)
    put(tmp_path / "loose.log", NOW - 40 * DAY_S, 3200)
    stats = run(tmp_path, policy(30, per_dag_days={"noisy": 3}), dag_layout=True)
    assert files_under(tmp_path) == {"dag_id=quiet/run_id=r/d.log"}
    assert (stats.files_deleted, stats.bytes_deleted, stats.files_kept) == (5, 5500, 1)
    assert stats.per_dag == {"noisy": [3, 700], "quiet": [1, 1600], "(other)": [1, 3200]}


def test_without_the_dag_layout_a_dag_id_folder_gets_the_default_retention(tmp_path: Path) -> None:
    put(tmp_path / "dag_id=noisy" / "a.log", NOW - 10 * DAY_S, 4)
    stats = LogSweeper(policy(30, per_dag_days={"noisy": 3}), dry_run=False).sweep("lbl", str(tmp_path))
    assert files_under(tmp_path) == {"dag_id=noisy/a.log"}
    assert (stats.files_deleted, stats.files_kept, stats.per_dag) == (0, 1, {})


def test_deletions_in_many_directories_add_up(tmp_path: Path) -> None:
    for i, size in enumerate((1, 2, 4, 8)):
        put(tmp_path / f"d{i}" / "x.log", NOW - 40 * DAY_S, size)
    put(tmp_path / "d0" / "keep.log", NOW, 16)
    put(tmp_path / "top.log", NOW - 40 * DAY_S, 32)
    put(tmp_path / "d1" / "y.log", NOW - 40 * DAY_S, 64)
    stats = run(tmp_path)
    assert files_under(tmp_path) == {"d0/keep.log"}
    assert (stats.files_deleted, stats.bytes_deleted, stats.files_kept) == (6, 111, 1)
    assert stats.per_dag == {"(other)": [6, 111]}


# -- what is never deleted ----------------------------------------------------------------------------


def test_symlinks_are_never_followed_nor_removed(tmp_path: Path, rmdir_calls: list[str]) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    target = put(outside / "precious.log", NOW - 400 * DAY_S)
    set_dir_mtime(outside, NOW - 400 * DAY_S)
    inner = put(root / "d" / "inner.log", NOW - 400 * DAY_S)
    (root / "d" / "file-link.log").symlink_to(target)
    (root / "d" / "dir-link").symlink_to(outside, target_is_directory=True)
    (root / "d" / "inner-link.log").symlink_to(inner)
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    for link in ("d/file-link.log", "d/dir-link", "d/inner-link.log", "dangling"):
        os.utime(root / link, (NOW - 400 * DAY_S, NOW - 400 * DAY_S), follow_symlinks=False)
    age_all_dirs(root, NOW - 400 * DAY_S)
    stats = run(root)
    assert target.exists() and not inner.exists()
    assert files_under(root) == {"d/file-link.log", "d/dir-link", "d/inner-link.log", "dangling"}
    assert files_under(outside) == {"precious.log"}
    assert dirs_under(root) == {"d"}  # it still holds the links
    assert stats.skipped == {"symlink": 4}
    assert (stats.files_deleted, stats.files_kept, stats.dirs_removed) == (1, 0, 0)
    assert rmdir_calls == []


def test_a_root_that_is_a_symlink_is_not_entered(tmp_path: Path) -> None:
    real = tmp_path / "real"
    old = put(real / "a.log", NOW - 40 * DAY_S)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    stats = run(tmp_path / "link")
    assert old.exists()
    assert stats.error == "cannot open: Not a directory"  # O_NOFOLLOW | O_DIRECTORY on a link: ENOTDIR
    assert stats.skipped == {"unreadable": 1}
    assert stats.samples == [f"unreadable: {tmp_path / 'link'}"]
    assert stats.files_deleted == 0


def test_a_root_that_is_a_file_is_reported_not_swept(tmp_path: Path) -> None:
    f = put(tmp_path / "app.log", NOW - 40 * DAY_S)
    stats = run(f)
    assert f.exists()
    assert stats.error == "cannot open: Not a directory"
    assert stats.skipped == {"unreadable": 1}


def test_a_missing_root_is_reported_as_missing(tmp_path: Path) -> None:
    stats = run(tmp_path / "nope")
    assert stats.error == "missing (nothing to clean)"
    assert stats.skipped == {} and stats.samples == []
    assert stats.to_dict()["duration_s"] == 0.0


def test_non_regular_files_are_kept_and_keep_their_directory(tmp_path: Path, rmdir_calls: list[str]) -> None:
    fifo = tmp_path / "d" / "pipe"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    os.utime(fifo, (NOW - 40 * DAY_S, NOW - 40 * DAY_S))
    set_dir_mtime(fifo.parent, NOW - 40 * DAY_S)
    stats = run(tmp_path)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert stats.skipped == {"not_a_regular_file": 1}
    assert stats.samples == ["not_a_regular_file: d/pipe"]
    assert rmdir_calls == []
    assert (stats.files_deleted, stats.files_kept, stats.dirs_removed) == (0, 0, 0)


def test_an_expired_file_we_may_not_read_is_kept_and_keeps_its_directory(
    tmp_path: Path, rmdir_calls: list[str]
) -> None:
    locked = put(tmp_path / "d" / "locked.log", NOW - 40 * DAY_S)
    locked.chmod(0)
    fresh_locked = put(tmp_path / "d" / "fresh.log", NOW)
    fresh_locked.chmod(0)
    set_dir_mtime(tmp_path / "d", NOW - 40 * DAY_S)
    stats = run(tmp_path)
    assert files_under(tmp_path) == {"d/locked.log", "d/fresh.log"}
    # The recent one is simply kept (age is judged first); only the expired one is reported.
    assert stats.skipped == {"unreadable": 1}
    assert stats.samples == ["unreadable: d/locked.log"]
    assert rmdir_calls == []
    assert (stats.files_deleted, stats.files_kept, stats.dirs_removed) == (0, 1, 0)


def test_a_nested_root_is_not_entered_and_keeps_its_parent(tmp_path: Path, rmdir_calls: list[str]) -> None:
    inner = put(tmp_path / "a" / "nested" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    st = (tmp_path / "a" / "nested").stat()
    stats = run(tmp_path, skip_dirs={(st.st_dev, st.st_ino)})
    assert inner.exists()
    assert dirs_under(tmp_path) == {"a", "a/nested"}
    assert stats.skipped == {"nested_root": 1}
    assert stats.samples == ["nested_root: a/nested"]
    assert rmdir_calls == []


def test_an_unrelated_skip_dir_does_not_stop_the_walk(tmp_path: Path) -> None:
    old = put(tmp_path / "a" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    st = tmp_path.stat()
    stats = run(tmp_path, skip_dirs={(st.st_dev, st.st_ino + 10**6)})
    assert not old.exists() and dirs_under(tmp_path) == set()
    assert stats.skipped == {} and stats.dirs_removed == 1


# -- directories ------------------------------------------------------------------------------------


def test_an_emptied_directory_goes_only_when_older_than_the_safety_window(
    tmp_path: Path, rmdir_calls: list[str]
) -> None:
    safety = NOW - 24 * HOUR_S
    for name, mtime in (("at", safety), ("older", safety - 1), ("newer", safety + 1)):
        put(tmp_path / "p" / name / "x.log", NOW - 40 * DAY_S)
        set_dir_mtime(tmp_path / "p" / name, mtime)
    set_dir_mtime(tmp_path / "p", NOW - 40 * DAY_S)
    stats = run(tmp_path)
    assert files_under(tmp_path) == set()
    assert dirs_under(tmp_path) == {"p", "p/at", "p/newer"}
    assert (stats.files_deleted, stats.dirs_removed) == (3, 1)
    assert rmdir_calls == ["older"]  # p still holds two directories: not tried


def test_a_directory_emptied_by_the_sweep_is_removed_with_its_emptied_parents(tmp_path: Path) -> None:
    put(tmp_path / "a" / "b" / "c" / "x.log", NOW - 40 * DAY_S)
    put(tmp_path / "k" / "b" / "keep.log", NOW)
    put(tmp_path / "k" / "c" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    stats = run(tmp_path)
    assert dirs_under(tmp_path) == {"k", "k/b"}
    assert stats.dirs_removed == 4  # a/b/c, a/b, a, k/c
    assert tmp_path.is_dir()


def test_with_remove_empty_dirs_off_every_directory_stays(tmp_path: Path) -> None:
    put(tmp_path / "a" / "b" / "x.log", NOW - 40 * DAY_S)
    (tmp_path / "empty").mkdir()
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    stats = run(tmp_path, remove_empty_dirs=False)
    assert files_under(tmp_path) == set()
    assert dirs_under(tmp_path) == {"a", "a/b", "empty"}
    assert (stats.files_deleted, stats.dirs_removed) == (1, 0)


def test_a_dry_run_deletes_nothing_and_counts_what_it_would_remove(tmp_path: Path) -> None:
    put(tmp_path / "a" / "b" / "x.log", NOW - 40 * DAY_S, 6)
    put(tmp_path / "a" / "y.log", NOW - 40 * DAY_S, 9)
    put(tmp_path / "k" / "keep.log", NOW, 1)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    before_files, before_dirs = files_under(tmp_path), dirs_under(tmp_path)
    stats = run(tmp_path, dry_run=True)
    assert files_under(tmp_path) == before_files and dirs_under(tmp_path) == before_dirs
    assert (stats.files_deleted, stats.bytes_deleted, stats.files_kept, stats.dirs_removed) == (2, 15, 1, 2)
    assert stats.dry_run is True
    assert stats.per_dag == {"(other)": [2, 15]}


def test_a_dry_run_never_builds_an_archiver(tmp_path: Path) -> None:
    put(tmp_path / "x.log", NOW - 40 * DAY_S)
    made: list[str] = []

    def factory(path: str, stats: RootStats) -> Any:
        made.append(path)
        raise AssertionError("no archiver in a dry run")

    stats = LogSweeper(policy(), dry_run=True, archiver_factory=factory).sweep("lbl", str(tmp_path))
    assert made == [] and stats.files_deleted == 1 and (tmp_path / "x.log").exists()


# -- errors met mid-walk ------------------------------------------------------------------------------


class _Entry:
    """A real directory entry whose ``stat`` raises (an entry removed or locked after it was listed)."""

    def __init__(self, entry: os.DirEntry[str], exc: BaseException | None) -> None:
        self._entry, self._exc = entry, exc
        self.name = entry.name

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry.is_dir(follow_symlinks=follow_symlinks)

    def is_symlink(self) -> bool:
        return self._entry.is_symlink()

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        if self._exc is not None:
            raise self._exc
        return self._entry.stat(follow_symlinks=follow_symlinks)


def _fd_path(fd: Any) -> str:
    return os.readlink(f"/proc/self/fd/{fd}") if isinstance(fd, int) else str(fd)


def patch_scandir(
    monkeypatch: pytest.MonkeyPatch,
    *,
    stat_errors: dict[str, BaseException] | None = None,
    dir_errors: dict[str, BaseException] | None = None,
    before: dict[str, Callable[[], None]] | None = None,
) -> None:
    """``os.scandir`` that fails for the directories named in ``dir_errors`` (by base name), makes
    ``stat`` raise for the entries named in ``stat_errors`` and runs ``before[name]`` just before
    yielding that entry."""
    real = os.scandir
    stat_errors, dir_errors, before = stat_errors or {}, dir_errors or {}, before or {}

    class _It:
        def __init__(self, it: Any) -> None:
            self._it = it

        def __enter__(self) -> _It:
            return self

        def __exit__(self, *a: object) -> None:
            self._it.close()

        def __iter__(self) -> Iterator[Any]:
            for e in sorted(self._it, key=lambda e: e.name):  # a known order
                if e.name in before:
                    before[e.name]()
                yield _Entry(e, stat_errors.get(e.name))

    def fake(fd: Any = ".") -> Any:
        name = os.path.basename(_fd_path(fd))
        if name in dir_errors:
            raise dir_errors[name]
        return _It(real(fd))

    monkeypatch.setattr(os, "scandir", fake)


def test_an_entry_gone_before_its_stat_is_vanished_and_one_locked_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rmdir_calls: list[str]
) -> None:
    for n in ("a-old.log", "gone.log", "locked.log", "old.log"):
        put(tmp_path / "d" / n, NOW - 40 * DAY_S, 10)
    (tmp_path / "e").mkdir()
    put(tmp_path / "e" / "gone.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    patch_scandir(
        monkeypatch,
        stat_errors={
            "gone.log": FileNotFoundError(errno.ENOENT, "gone"),
            "locked.log": PermissionError(errno.EACCES, "no"),
        },
    )
    stats = run(tmp_path)
    monkeypatch.undo()
    assert files_under(tmp_path) == {"d/gone.log", "d/locked.log", "e/gone.log"}
    assert rmdir_calls == ["e"]
    assert stats.skipped == {"vanished": 2, "unreadable": 1}
    assert sorted(stats.samples) == [
        "unreadable: d/locked.log",
        "vanished: d/gone.log",
        "vanished: e/gone.log",
    ]
    # d keeps its locked file; e only held a vanished entry, so it counts as empty and goes
    # (its rmdir fails here because the file is really there: the directory stays, uncounted).
    assert dirs_under(tmp_path) == {"d", "e"}
    assert (stats.files_deleted, stats.bytes_deleted, stats.dirs_removed) == (2, 20, 0)


def test_a_directory_that_cannot_be_listed_is_kept_with_its_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rmdir_calls: list[str]
) -> None:
    put(tmp_path / "p" / "locked" / "x.log", NOW - 40 * DAY_S)
    put(tmp_path / "q" / "gone" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    patch_scandir(
        monkeypatch,
        dir_errors={
            "locked": PermissionError(errno.EACCES, "no"),
            "gone": FileNotFoundError(errno.ENOENT, "gone"),
        },
    )
    stats = run(tmp_path)
    monkeypatch.undo()
    assert files_under(tmp_path) == {"p/locked/x.log", "q/gone/x.log"}
    assert dirs_under(tmp_path) == {"p", "p/locked", "q", "q/gone"}
    assert stats.skipped == {"unreadable": 1, "vanished": 1}
    assert sorted(stats.samples) == ["unreadable: p/locked/", "vanished: q/gone/"]
    assert rmdir_calls == []
    assert (stats.files_deleted, stats.dirs_removed) == (0, 0)


def test_a_directory_swapped_for_a_link_or_a_file_is_not_entered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rmdir_calls: list[str]
) -> None:
    outside = tmp_path / "outside"
    precious = put(outside / "precious.log", NOW - 400 * DAY_S)
    root = tmp_path / "root"
    for n in ("p/to-link", "p/to-file", "p/stays", "q/gone"):
        put(root / n / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(root, NOW - 40 * DAY_S)

    def swap(rel: str, make: Callable[[Path], None]) -> Callable[[], None]:
        def go() -> None:
            d = root / rel
            (d / "x.log").unlink()
            d.rmdir()
            make(d)

        return go

    patch_scandir(
        monkeypatch,
        before={
            "to-link": swap("p/to-link", lambda d: d.symlink_to(outside, target_is_directory=True)),
            "to-file": swap("p/to-file", lambda d: d.write_text("not a dir")),
            "gone": swap("q/gone", lambda d: None),
        },
    )
    stats = run(root)
    monkeypatch.undo()
    assert precious.exists()
    assert files_under(root) == {"p/to-link", "p/to-file"}
    assert dirs_under(root) == {"p"}
    assert stats.skipped == {"symlink": 2, "vanished": 1}
    assert sorted(stats.samples) == ["symlink: p/to-file", "symlink: p/to-link", "vanished: q/gone"]
    # q held only the vanished directory, so q goes; p keeps the link and the file.
    assert sorted(rmdir_calls) == ["q", "stays"]
    assert (stats.files_deleted, stats.dirs_removed) == (1, 2)


def test_a_directory_that_cannot_be_opened_for_another_reason_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path / "p" / "locked" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    real_open = os.open

    def fake_open(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        if path == "locked":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)
    stats = run(tmp_path)
    monkeypatch.undo()
    assert files_under(tmp_path) == {"p/locked/x.log"}
    assert dirs_under(tmp_path) == {"p", "p/locked"}
    assert stats.skipped == {"unreadable": 1}
    assert stats.samples == ["unreadable: p/locked"]


def test_unlink_errors_keep_or_drop_the_file_from_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, size in (("gone.log", 1), ("locked.log", 2), ("ok.log", 4)):
        put(tmp_path / "a" / n, NOW - 40 * DAY_S, size)
    put(tmp_path / "b" / "gone.log", NOW - 40 * DAY_S, 8)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    real_unlink = os.unlink

    def fake_unlink(path: Any, *, dir_fd: int | None = None) -> None:
        if path == "gone.log":
            real_unlink(path, dir_fd=dir_fd)
            raise FileNotFoundError(errno.ENOENT, "gone")
        if path == "locked.log":
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", fake_unlink)
    patch_scandir(monkeypatch)  # names in order: gone.log, locked.log, ok.log
    stats = run(tmp_path)
    monkeypatch.undo()
    assert files_under(tmp_path) == {"a/locked.log"}
    assert dirs_under(tmp_path) == {"a"}  # a keeps the locked file; b held only a vanished one
    assert stats.skipped == {"vanished": 2, "unreadable": 1}
    assert sorted(stats.samples) == [
        "unreadable: a/locked.log",
        "vanished: a/gone.log",
        "vanished: b/gone.log",
    ]
    assert (stats.files_deleted, stats.bytes_deleted, stats.dirs_removed) == (1, 4, 1)


def test_rmdir_failures_keep_the_directory_and_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path / "p" / "busy" / "x.log", NOW - 40 * DAY_S)
    put(tmp_path / "q" / "raced" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    real_rmdir = os.rmdir
    calls: list[str] = []

    def fake_rmdir(path: Any, *, dir_fd: int | None = None) -> None:
        calls.append(str(path))
        if path == "busy":
            raise OSError(errno.ENOTEMPTY, "Directory not empty")
        if path == "raced":
            real_rmdir(path, dir_fd=dir_fd)  # removed by someone else first: gone is gone
            raise FileNotFoundError(errno.ENOENT, "gone")
        real_rmdir(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "rmdir", fake_rmdir)
    stats = run(tmp_path)
    monkeypatch.undo()
    assert dirs_under(tmp_path) == {"p", "p/busy"}
    assert sorted(calls) == ["busy", "q", "raced"]  # p is not tried: busy stayed
    assert stats.dirs_removed == 1  # q only: raced is not counted as ours
    assert stats.files_deleted == 2


def test_expired_files_are_deleted_by_the_permission_bits_that_apply_to_us(tmp_path: Path) -> None:
    """We run as root (uid 0, gid 0): our own file needs the owner bit, a file of our group the group bit."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give files away")
    own_readable = put(tmp_path / "own-600.log", NOW - 40 * DAY_S)
    own_readable.chmod(0o600)
    own_group_only = put(tmp_path / "own-060.log", NOW - 40 * DAY_S)
    own_group_only.chmod(0o060)
    theirs_group = put(tmp_path / "theirs-040.log", NOW - 40 * DAY_S)
    os.chown(theirs_group, 12345, 0)
    theirs_group.chmod(0o040)
    theirs_owner = put(tmp_path / "theirs-200.log", NOW - 40 * DAY_S)
    os.chown(theirs_owner, 12345, 0)
    theirs_owner.chmod(0o604)
    stats = run(tmp_path)
    assert files_under(tmp_path) == {"own-060.log", "theirs-200.log"}
    assert stats.skipped == {"unreadable": 2}
    assert stats.files_deleted == 2


# -- names and what is reported -----------------------------------------------------------------------


def test_only_names_that_are_not_utf8_are_counted_and_samples_print_them_escaped(tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    bad_dir = os.path.join(base, b"d\xff")
    os.mkdir(bad_dir)
    for raw in (b"plain.log", "caf\u00e9.log".encode(), b"bad-\xfe.log"):
        p = os.path.join(bad_dir, raw)
        with open(p, "wb") as fh:
            fh.write(b"x")
        os.utime(p, (NOW - 40 * DAY_S, NOW - 40 * DAY_S))
    os.symlink(b"/nowhere", os.path.join(bad_dir, b"link-\xfd"))
    os.utime(bad_dir, (NOW - 40 * DAY_S, NOW - 40 * DAY_S))
    stats = run(tmp_path)
    assert stats.non_utf8_names == 3  # d\xff, bad-\xfe.log, link-\xfd; not plain.log nor café.log
    assert stats.files_deleted == 3
    assert stats.samples == ["symlink: d\\xff/link-\\xfd"]
    assert os.listdir(bad_dir) == [b"link-\xfd"]


def test_samples_stop_at_the_limit_while_counts_go_on(tmp_path: Path) -> None:
    stats = RootStats("lbl", "/p", False)
    for i in range(SAMPLE_LIMIT + 5):
        stats.note_skip("symlink", f"f{i}")
    stats.note_skip("vanished", "late")
    assert SAMPLE_LIMIT == 20
    assert stats.skipped == {"symlink": 25, "vanished": 1}
    assert stats.samples == [f"symlink: f{i}" for i in range(20)]


def test_the_report_of_a_root_has_every_figure_under_its_name(tmp_path: Path) -> None:
    put(tmp_path / "dag_id=a" / "x.log", NOW - 40 * DAY_S, 30)
    put(tmp_path / "dag_id=a" / "y.log", NOW, 1)
    (tmp_path / "dag_id=a" / "l").symlink_to("/nowhere")
    stats = LogSweeper(policy(), dry_run=False).sweep("task-logs", str(tmp_path), dag_layout=True)
    d = stats.to_dict()
    assert 0 <= d["duration_s"] < 60
    d.pop("duration_s")
    assert d == {
        "label": "task-logs",
        "path": str(tmp_path),
        "dry_run": False,
        "files_deleted": 1,
        "bytes_deleted": 30,
        "files_kept": 1,
        "dirs_removed": 0,
        "non_utf8_names": 0,
        "skipped": {"symlink": 1},
        "per_dag": {"a": {"files": 1, "bytes": 30}},
        "samples": ["symlink: dag_id=a/l"],
        "error": None,
    }


def test_the_report_rounds_the_duration_to_milliseconds() -> None:
    stats = RootStats("l", "/p", True, duration_s=1.23456, error="x")
    assert stats.to_dict()["duration_s"] == 1.235
    assert stats.to_dict()["error"] == "x" and stats.to_dict()["dry_run"] is True


# -- readable_by_us: the permission bits, worked out by hand ------------------------------------------


def _st(mode: int, uid: int, gid: int) -> os.stat_result:
    return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "euid", "groups", "readable"),
    [
        # our own file: only the owner bits count
        (0o400, 1000, 2000, 1000, {3000}, True),
        (0o044, 1000, 3000, 1000, {3000}, False),
        # a file of our group: only the group bits count
        (0o040, 1001, 3000, 1000, {3000}, True),
        (0o404, 1001, 3000, 1000, {3000}, False),
        # someone else's: the other bits
        (0o004, 1001, 2000, 1000, {3000}, True),
        (0o440, 1001, 2000, 1000, {3000}, False),
        # root reads what owner or group may read, but not a file locked with chmod 000
        (0o400, 1001, 2000, 0, {3000}, True),
        (0o040, 1001, 2000, 0, {3000}, True),
        (0o000, 1001, 2000, 0, {3000}, False),
        (0o000, 0, 0, 0, {0}, False),
        (0o200, 1001, 2000, 0, {3000}, False),
    ],
)
def test_readable_by_us(mode: int, uid: int, gid: int, euid: int, groups: set[int], readable: bool) -> None:
    assert readable_by_us(_st(mode, uid, gid), euid, frozenset(groups)) is readable


# -- archive mode: files handed over, directories pruned after the archiver finished -------------------


class _Archiver:
    """Receives files and, on ``finish``, deletes them as the S3 archiver does after the upload.

    Deleting a file sets its directory's mtime to now, so the prune (which keeps directories younger
    than the safety window) would keep every directory it emptied; this fake puts back the mtime
    each directory had, so that the prune's own rule is what the tests see.
    """

    def __init__(self, root: Path, fail: set[str] | None = None) -> None:
        self.root, self.fail = root, fail or set()
        self.added: list[tuple[str, str, int]] = []
        self.finished = 0

    def add(self, dir_fd: int, name: str, relpath: str, st: os.stat_result) -> None:
        if name in self.fail:
            raise PermissionError(errno.EACCES, "no")
        assert os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_ino == st.st_ino
        self.added.append((name, relpath, st.st_size))

    def finish(self) -> None:
        self.finished += 1
        for _, rel, _ in self.added:
            f = self.root / rel
            before = f.parent.stat().st_mtime
            f.unlink()
            set_dir_mtime(f.parent, before)


def test_archive_mode_hands_over_expired_files_then_prunes_old_empty_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    put(root / "dag_id=a" / "run" / "x.log", NOW - 40 * DAY_S, 3)
    put(root / "dag_id=a" / "run" / "keep.log", NOW, 1)
    put(root / "dag_id=b" / "run" / "y.log", NOW - 40 * DAY_S, 5)
    put(root / "fresh" / "z.log", NOW - 40 * DAY_S, 7)
    put(root / "locked" / "w.log", NOW - 40 * DAY_S, 9)
    (root / "plain-empty").mkdir()
    put(root / "top.txt", NOW)
    (tmp_path / "outside-dir").mkdir()
    (root / "link").symlink_to(tmp_path / "outside-dir", target_is_directory=True)
    age_all_dirs(root, NOW - 40 * DAY_S)
    set_dir_mtime(tmp_path / "outside-dir", NOW - 40 * DAY_S)
    set_dir_mtime(root / "fresh", NOW)
    archivers: list[_Archiver] = []

    def factory(path: str, stats: RootStats) -> _Archiver:
        assert path == str(root) and stats.label == "lbl"
        archivers.append(_Archiver(root, fail={"w.log"}))
        return archivers[0]

    stats = LogSweeper(policy(), dry_run=False, archiver_factory=factory).sweep(
        "lbl", str(root), dag_layout=True
    )
    (arch,) = archivers
    assert arch.finished == 1
    assert sorted(arch.added) == [
        ("x.log", "dag_id=a/run/x.log", 3),
        ("y.log", "dag_id=b/run/y.log", 5),
        ("z.log", "fresh/z.log", 7),
    ]
    assert files_under(root) == {"dag_id=a/run/keep.log", "locked/w.log", "top.txt", "link"}
    assert dirs_under(root) == {"dag_id=a", "dag_id=a/run", "fresh", "locked"}
    assert (tmp_path / "outside-dir").is_dir()
    # plain-empty goes in the walk; dag_id=b/run and then dag_id=b in the prune.
    assert stats.dirs_removed == 3
    assert (stats.files_deleted, stats.bytes_deleted, stats.files_kept) == (3, 15, 2)
    assert stats.per_dag == {"a": [1, 3], "b": [1, 5], "(other)": [1, 7]}
    assert stats.skipped == {"unreadable": 1, "symlink": 1}


def test_archive_mode_without_removing_directories_prunes_none(tmp_path: Path) -> None:
    put(tmp_path / "a" / "x.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    made: list[_Archiver] = []

    def factory(path: str, stats: RootStats) -> _Archiver:
        made.append(_Archiver(tmp_path))
        return made[-1]

    stats = LogSweeper(policy(), dry_run=False, remove_empty_dirs=False, archiver_factory=factory).sweep(
        "lbl", str(tmp_path)
    )
    assert made[0].finished == 1
    assert files_under(tmp_path) == set() and dirs_under(tmp_path) == {"a"}
    assert stats.dirs_removed == 0


def test_the_prune_keeps_nested_roots_and_directories_it_cannot_open_or_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case sits alone in its own ``in-*`` parent: a parent is never tried unless all it held went."""
    for d in ("in-noopen/noopen", "in-normdir/normdir", "in-young/young", "plain"):
        put(tmp_path / d / "sub" / "x.log", NOW - 40 * DAY_S)
    (tmp_path / "in-nested" / "nested").mkdir(
        parents=True
    )  # an empty nested root: the walk skips it, so must the prune
    put(tmp_path / "in-file" / "keep.txt", NOW)
    (tmp_path / "in-link").mkdir()
    (tmp_path / "in-link" / "link").symlink_to("/", target_is_directory=True)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    set_dir_mtime(tmp_path / "in-young" / "young", NOW)
    st = (tmp_path / "in-nested" / "nested").stat()
    real_open, real_rmdir = os.open, os.rmdir
    opened: list[str] = []
    calls: list[str] = []

    def fake_open(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        opened.append(str(path))
        if path == "noopen" and opened.count("noopen") == 2:  # the walk's open works, the prune's fails
            raise PermissionError(errno.EACCES, "no")
        return real_open(path, flags, *a, **kw)

    def fake_rmdir(path: Any, *, dir_fd: int | None = None) -> None:
        calls.append(str(path))
        if path == "normdir":
            raise OSError(errno.EBUSY, "busy")
        real_rmdir(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "rmdir", fake_rmdir)
    stats = LogSweeper(
        policy(),
        dry_run=False,
        skip_dirs={(st.st_dev, st.st_ino)},
        archiver_factory=lambda p, s: _Archiver(tmp_path),
    ).sweep("lbl", str(tmp_path))
    monkeypatch.undo()
    assert files_under(tmp_path) == {"in-file/keep.txt", "in-link/link"}
    assert dirs_under(tmp_path) == {
        "in-noopen",
        "in-noopen/noopen",
        "in-noopen/noopen/sub",
        "in-normdir",
        "in-normdir/normdir",
        "in-young",
        "in-young/young",
        "in-nested",
        "in-nested/nested",
        "in-file",
        "in-link",
    }
    # The walk tries nothing (every directory still holds a file handed to the archiver); the prune
    # removes normdir/sub, young/sub and plain/sub, then plain, and tries normdir.
    assert sorted(calls) == ["normdir", "plain", "sub", "sub", "sub"]
    assert stats.dirs_removed == 4
    assert stats.skipped == {"nested_root": 1, "symlink": 1}


def test_the_prune_keeps_a_directory_younger_than_the_safety_window(tmp_path: Path) -> None:
    safety = NOW - 24 * HOUR_S
    for name, mtime in (("at", safety), ("older", safety - 1)):
        put(tmp_path / name / "x.log", NOW - 40 * DAY_S)
        set_dir_mtime(tmp_path / name, mtime)
    stats = LogSweeper(policy(), dry_run=False, archiver_factory=lambda p, s: _Archiver(tmp_path)).sweep(
        "lbl", str(tmp_path)
    )
    assert files_under(tmp_path) == set() and dirs_under(tmp_path) == {"at"}
    assert stats.dirs_removed == 1


# -- a directory that holds only a file the sweep keeps is never tried ---------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_directory_holding_only_an_unreadable_expired_file_is_neither_tried_nor_counted(
    tmp_path: Path, rmdir_calls: list[str], dry_run: bool
) -> None:
    locked = put(tmp_path / "only" / "locked.log", NOW - 40 * DAY_S)
    locked.chmod(0)
    set_dir_mtime(tmp_path / "only", NOW - 40 * DAY_S)
    stats = run(tmp_path, dry_run=dry_run)
    assert files_under(tmp_path) == {"only/locked.log"}
    assert rmdir_calls == []
    assert (stats.files_deleted, stats.dirs_removed) == (0, 0)
    assert stats.skipped == {"unreadable": 1}


def test_a_directory_holding_only_a_file_whose_unlink_is_refused_is_not_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rmdir_calls: list[str]
) -> None:
    put(tmp_path / "only" / "locked.log", NOW - 40 * DAY_S)
    set_dir_mtime(tmp_path / "only", NOW - 40 * DAY_S)

    def refuse(path: Any, *, dir_fd: int | None = None) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "unlink", refuse)
    stats = run(tmp_path)
    assert files_under(tmp_path) == {"only/locked.log"}
    assert rmdir_calls == []
    assert (stats.files_deleted, stats.dirs_removed) == (0, 0)
    assert stats.skipped == {"unreadable": 1}


def test_an_archiver_refusing_the_only_file_of_a_directory_keeps_it_untried(
    tmp_path: Path, rmdir_calls: list[str]
) -> None:
    put(tmp_path / "only" / "w.log", NOW - 40 * DAY_S)
    set_dir_mtime(tmp_path / "only", NOW - 40 * DAY_S)
    stats = LogSweeper(
        policy(), dry_run=False, archiver_factory=lambda p, s: _Archiver(tmp_path, fail={"w.log"})
    ).sweep("lbl", str(tmp_path))
    assert files_under(tmp_path) == {"only/w.log"}
    assert rmdir_calls == []  # neither the walk nor the prune: the directory still holds w.log
    assert (stats.files_deleted, stats.dirs_removed) == (0, 0)


def test_the_prune_goes_on_past_a_directory_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the known order a, b: the prune's open of a fails; b, emptied by the archiver, still goes."""
    put(tmp_path / "p" / "a" / "x.log", NOW - 40 * DAY_S)
    put(tmp_path / "p" / "b" / "y.log", NOW - 40 * DAY_S)
    age_all_dirs(tmp_path, NOW - 40 * DAY_S)
    real_open = os.open
    opened: list[str] = []

    def fake_open(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        opened.append(str(path))
        if path == "a" and opened.count("a") == 2:  # the walk's open works, the prune's fails
            raise PermissionError(errno.EACCES, "no")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)
    patch_scandir(monkeypatch)
    stats = LogSweeper(policy(), dry_run=False, archiver_factory=lambda p, s: _Archiver(tmp_path)).sweep(
        "lbl", str(tmp_path)
    )
    monkeypatch.undo()
    assert files_under(tmp_path) == set()
    assert dirs_under(tmp_path) == {"p", "p/a"}  # b removed; p keeps a
    assert stats.dirs_removed == 1
