"""The streaming sweep of one log root.

Memory is constant in the number of files: the walk is depth-first over ``os.scandir`` on
directory file descriptors (one open descriptor per level), and only counters, per-DAG totals
and a bounded sample of skipped paths are kept. Every path operation is relative to an open
directory opened with ``O_NOFOLLOW``, so a symlink (or a directory swapped for one mid-walk)
is never followed out of the root. Files are selected by their own mtime, never by a
directory's; a directory is removed only once it is empty and itself outside the safety window.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from stat import S_ISLNK, S_ISREG
from typing import Any, Protocol

from airflow_ops.logcleanup.floor import AgeHistogram

DAY = 86_400.0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SAMPLE_LIMIT = 20

#: Skip reasons reported for files that were old enough but not deleted (or not looked at).
SKIP_REASONS = (
    "within_safety_window",
    "unreadable",
    "vanished",
    "symlink",
    "not_a_regular_file",
    "nested_root",
    "changed_since_archived",
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long files are kept: a default, per-DAG overrides and a safety window that always wins."""

    retention_days: float
    per_dag_days: dict[str, float] = field(default_factory=dict)
    safety_window_hours: float = 24.0
    now: float = field(default_factory=time.time)

    @property
    def safety_cutoff(self) -> float:
        return self.now - self.safety_window_hours * 3600

    def retention_cutoff(self, dag_id: str | None) -> float:
        days = self.per_dag_days.get(dag_id, self.retention_days) if dag_id else self.retention_days
        return self.now - days * DAY


@dataclass
class RootStats:
    """What happened in one root. ``files_deleted`` counts would-be deletions in a dry run."""

    label: str
    path: str
    dry_run: bool
    files_deleted: int = 0
    bytes_deleted: int = 0
    files_kept: int = 0
    dirs_removed: int = 0
    non_utf8_names: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    per_dag: dict[str, list[int]] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    #: what the free-space floor deleted on top of the age rule (also counted in files/bytes_deleted)
    floor_files: int = 0
    floor_bytes: int = 0
    floor_cutoff: float | None = None
    #: why the floor could not be met (None: met, or no floor)
    floor_note: str | None = None

    def note_skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append(f"{reason}: {where}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "path": self.path,
            "dry_run": self.dry_run,
            "files_deleted": self.files_deleted,
            "bytes_deleted": self.bytes_deleted,
            "files_kept": self.files_kept,
            "dirs_removed": self.dirs_removed,
            "non_utf8_names": self.non_utf8_names,
            "skipped": dict(self.skipped),
            "per_dag": {k: {"files": v[0], "bytes": v[1]} for k, v in self.per_dag.items()},
            "samples": list(self.samples),
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "floor_files": self.floor_files,
            "floor_bytes": self.floor_bytes,
            "floor_cutoff": self.floor_cutoff,
            "floor_note": self.floor_note,
        }


class Archiver(Protocol):
    """Receives expired files before they are deleted (see :mod:`airflow_ops.logcleanup.archive`)."""

    def add(self, dir_fd: int, name: str, relpath: str, st: os.stat_result) -> None: ...

    def finish(self) -> None: ...


def _printable(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def readable_by_us(st: os.stat_result, euid: int, groups: frozenset[int]) -> bool:
    """Whether the permission bits let this process read the file (decided from lstat, no syscall).

    Judged from the mode bits even for root, so a file an operator locked with ``chmod 000`` is
    reported rather than silently removed.
    """
    mode = st.st_mode
    if st.st_uid == euid:
        return bool(mode & stat.S_IRUSR)
    if st.st_gid in groups:
        return bool(mode & stat.S_IRGRP)
    return bool(mode & stat.S_IROTH) or (euid == 0 and bool(mode & (stat.S_IRUSR | stat.S_IRGRP)))


class LogSweeper:
    """Sweep roots with one policy. Call :meth:`sweep` once per root."""

    def __init__(
        self,
        policy: RetentionPolicy,
        *,
        dry_run: bool,
        remove_empty_dirs: bool = True,
        skip_dirs: set[tuple[int, int]] | None = None,
        archiver_factory: Callable[[str, RootStats], Archiver] | None = None,
        histogram: AgeHistogram | None = None,
    ) -> None:
        self.policy = policy
        self.dry_run = dry_run
        self.remove_empty_dirs = remove_empty_dirs
        #: (st_dev, st_ino) of directories never entered: other roots nested in this one.
        self.skip_dirs = skip_dirs or set()
        self.archiver_factory = archiver_factory
        #: receives (mtime, size) of every regular file the age rule keeps (the floor's input)
        self.histogram = histogram
        self._euid = os.geteuid()
        self._groups = frozenset([os.getegid(), *os.getgroups()])

    def sweep(self, label: str, path: str, dag_layout: bool = False) -> RootStats:
        stats = RootStats(label, path, self.dry_run)
        started = time.monotonic()
        try:
            fd = os.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            stats.error = "missing (nothing to clean)"
            return stats
        except OSError as exc:
            stats.error = f"cannot open: {exc.strerror}"
            stats.note_skip("unreadable", path)
            return stats
        archiver = self.archiver_factory(path, stats) if self.archiver_factory and not self.dry_run else None
        try:
            self._walk(fd, "", stats, None, dag_layout, archiver, depth=0)
            if archiver is not None:
                archiver.finish()
                if self.remove_empty_dirs:
                    self._prune(fd, stats)
        finally:
            os.close(fd)
            stats.duration_s = time.monotonic() - started
        return stats

    # -- the walk --------------------------------------------------------------------------------
    def _walk(
        self,
        dfd: int,
        rel: str,
        stats: RootStats,
        dag_id: str | None,
        dag_layout: bool,
        archiver: Archiver | None,
        depth: int,
    ) -> bool:
        """Sweep the directory open at ``dfd``; return True when nothing is left in it."""
        policy = self.policy
        safety_cutoff = policy.safety_cutoff
        retention_cutoff = policy.retention_cutoff(dag_id)
        cutoff = min(safety_cutoff, retention_cutoff)
        dry_run = self.dry_run
        euid = self._euid
        unlink = os.unlink
        kept = False
        # Hot loop: counters stay local and are added to ``stats`` once per directory.
        deleted = freed = kept_files = 0
        histogram = self.histogram
        try:
            it = os.scandir(dfd)
        except OSError as exc:
            stats.note_skip("vanished" if exc.errno == errno.ENOENT else "unreadable", _printable(rel))
            return False
        try:
            with it:
                for entry in it:
                    name = entry.name
                    if not name.isascii():
                        try:
                            name.encode("utf-8")
                        except UnicodeEncodeError:
                            stats.non_utf8_names += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):  # d_type: no syscall
                            if not self._enter(dfd, name, rel, stats, dag_id, dag_layout, archiver, depth):
                                kept = True
                            continue
                        st = entry.stat(follow_symlinks=False)  # the one lstat per file, as find's
                    except FileNotFoundError:
                        stats.note_skip("vanished", _printable(rel + name))
                        continue
                    except PermissionError:
                        kept = True
                        stats.note_skip("unreadable", _printable(rel + name))
                        continue
                    mode = st.st_mode
                    if not S_ISREG(mode):
                        kept = True
                        reason = "symlink" if S_ISLNK(mode) else "not_a_regular_file"
                        stats.note_skip(reason, _printable(rel + name))
                        continue
                    mtime = st.st_mtime
                    if mtime >= cutoff:
                        kept = True
                        kept_files += 1
                        if histogram is not None:
                            histogram.add(mtime, st.st_size)
                        if mtime < retention_cutoff:
                            stats.note_skip("within_safety_window", _printable(rel + name))
                        continue
                    if not readable_by_us(st, euid, self._groups):
                        kept = True
                        stats.note_skip("unreadable", _printable(rel + name))
                        continue
                    try:
                        if archiver is not None:
                            archiver.add(dfd, name, rel + name, st)
                        elif not dry_run:
                            unlink(name, dir_fd=dfd)
                    except FileNotFoundError:
                        stats.note_skip("vanished", _printable(rel + name))
                        continue
                    except PermissionError:
                        kept = True
                        stats.note_skip("unreadable", _printable(rel + name))
                        continue
                    if archiver is not None:
                        kept = True  # deleted after the upload is confirmed
                    deleted += 1
                    freed += st.st_size
        finally:
            stats.files_deleted += deleted
            stats.bytes_deleted += freed
            stats.files_kept += kept_files
            if deleted:
                per_dag = stats.per_dag.setdefault(dag_id or "(other)", [0, 0])
                per_dag[0] += deleted
                per_dag[1] += freed
        return not kept

    def _enter(
        self,
        dfd: int,
        name: str,
        rel: str,
        stats: RootStats,
        dag_id: str | None,
        dag_layout: bool,
        archiver: Archiver | None,
        depth: int,
    ) -> bool:
        """Sweep a subdirectory; return True when it was (or, in a dry run, would be) removed."""
        try:
            cfd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
        except FileNotFoundError:
            stats.note_skip("vanished", _printable(rel + name))
            return True
        except OSError as exc:
            # ELOOP/ENOTDIR: swapped for a symlink or a file since scandir saw it.
            reason = "symlink" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else "unreadable"
            stats.note_skip(reason, _printable(rel + name))
            return False
        try:
            dst = os.fstat(cfd)
            if self.skip_dirs and (dst.st_dev, dst.st_ino) in self.skip_dirs:
                stats.note_skip("nested_root", _printable(rel + name))
                return False
            child_dag = dag_id
            if dag_layout and depth == 0 and name.startswith("dag_id="):
                child_dag = name[len("dag_id=") :]
            empty = self._walk(cfd, f"{rel}{name}/", stats, child_dag, dag_layout, archiver, depth + 1)
        finally:
            os.close(cfd)
        if not (empty and self.remove_empty_dirs) or dst.st_mtime >= self.policy.safety_cutoff:
            return False
        if self.dry_run:
            stats.dirs_removed += 1
            return True
        try:
            os.rmdir(name, dir_fd=dfd)
        except FileNotFoundError:
            return True
        except OSError:  # a file appeared meanwhile: keep the directory
            return False
        stats.dirs_removed += 1
        return True

    def _prune(self, dfd: int, stats: RootStats) -> bool:
        """Remove directories left empty after archived files were deleted (archive mode only)."""
        kept = False
        with os.scandir(dfd) as it:
            for entry in it:
                if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                    kept = True
                    continue
                try:
                    cfd = os.open(entry.name, _DIR_FLAGS, dir_fd=dfd)
                except OSError:
                    kept = True
                    continue
                try:
                    dst = os.fstat(cfd)
                    empty = (dst.st_dev, dst.st_ino) not in self.skip_dirs and self._prune(cfd, stats)
                finally:
                    os.close(cfd)
                if not empty or dst.st_mtime >= self.policy.safety_cutoff:
                    kept = True
                    continue
                try:
                    os.rmdir(entry.name, dir_fd=dfd)
                    stats.dirs_removed += 1
                except OSError:
                    kept = True
        return not kept
