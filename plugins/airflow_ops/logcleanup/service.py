"""Sweep every root of one worker: the domain entry point of the log cleanup kind (Airflow-free)."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from airflow_ops.logcleanup.floor import AgeHistogram, FloorCut, FloorPolicy, cutoff_for, free_deficit
from airflow_ops.logcleanup.roots import LogRoot
from airflow_ops.logcleanup.sweep import DAY, LogSweeper, RetentionPolicy, RootStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveTarget:
    """Upload-before-delete: where archived logs go and how large one tar batch may grow."""

    client: Any
    bucket: str
    prefix: str
    batch_max_files: int
    batch_max_bytes: int


def sweep_roots(
    roots: list[LogRoot],
    policy: RetentionPolicy,
    *,
    dry_run: bool,
    remove_empty_dirs: bool = True,
    archive: ArchiveTarget | None = None,
    run_key: str = "manual",
    floor: FloorPolicy | None = None,
) -> list[RootStats]:
    """Sweep each root once (roots nested in another are skipped by the outer walk and swept alone);
    then, when ``floor`` is set and the age rule left a limit exceeded, sweep again oldest-first."""
    ids: set[tuple[int, int]] = set()
    seen: set[str] = set()
    unique: list[LogRoot] = []
    devices: list[int | None] = []
    for root in roots:
        if root.path in seen:
            continue
        seen.add(root.path)
        unique.append(root)
        try:
            st = os.stat(root.path)
        except OSError:
            devices.append(None)
            continue
        ids.add((st.st_dev, st.st_ino))
        devices.append(st.st_dev)
    sweepers = _Sweepers(ids, dry_run, remove_empty_dirs, archive, run_key)
    floor_on = floor is not None and floor.active
    out: list[RootStats] = []
    histograms: list[AgeHistogram] = []
    for root in unique:
        histogram = AgeHistogram()
        stats = sweepers.sweep(root, policy, histogram if floor_on else None)
        _log(stats, dry_run)
        out.append(stats)
        histograms.append(histogram)
    if floor is not None and floor_on:
        _apply_floor(unique, devices, out, histograms, policy, floor, sweepers)
    return out


def _log(stats: RootStats, dry_run: bool) -> None:
    log.info(
        "%s %s: %d files (%d bytes) %s, %d kept, skipped %s",
        stats.label,
        stats.path,
        stats.files_deleted,
        stats.bytes_deleted,
        "would be deleted" if dry_run else "deleted",
        stats.files_kept,
        dict(stats.skipped) or "none",
    )


@dataclass
class _Sweepers:
    """Builds the sweeper of one root: its nested roots skipped, its archive prefix."""

    ids: set[tuple[int, int]]
    dry_run: bool
    remove_empty_dirs: bool
    archive: ArchiveTarget | None
    run_key: str

    def sweep(self, root: LogRoot, policy: RetentionPolicy, histogram: AgeHistogram | None) -> RootStats:
        try:
            own = os.stat(root.path)
            skip = self.ids - {(own.st_dev, own.st_ino)}
        except OSError:
            skip = self.ids
        factory = None
        archive = self.archive
        if archive is not None:
            from airflow_ops.logcleanup.archive import S3LogArchiver

            prefix = f"{archive.prefix.strip('/')}/{socket.gethostname()}/{root.label}/{self.run_key}"

            def factory(
                path: str, stats: RootStats, _prefix: str = prefix, _a: ArchiveTarget = archive
            ) -> Any:
                return S3LogArchiver(
                    client=_a.client,
                    bucket=_a.bucket,
                    key_prefix=_prefix,
                    root_path=path,
                    stats=stats,
                    max_files=_a.batch_max_files,
                    max_bytes=_a.batch_max_bytes,
                )

        sweeper = LogSweeper(
            policy,
            dry_run=self.dry_run,
            remove_empty_dirs=self.remove_empty_dirs,
            skip_dirs=skip,
            archiver_factory=factory,
            histogram=histogram,
        )
        return sweeper.sweep(root.label, root.path, root.dag_layout)


def _apply_floor(
    roots: list[LogRoot],
    devices: list[int | None],
    stats: list[RootStats],
    histograms: list[AgeHistogram],
    policy: RetentionPolicy,
    floor: FloorPolicy,
    sweepers: _Sweepers,
) -> None:
    latest = policy.now - max(floor.min_retention_hours, policy.safety_window_hours) * 3600
    cuts: dict[int, FloorCut] = {}

    def stricter(i: int, cut: FloorCut) -> None:
        old = cuts.get(i)
        if cut.cutoff is not None and (old is None or old.cutoff is None or cut.cutoff > old.cutoff):
            cuts[i] = cut
        if not cut.met:
            why = (
                f"the free-space floor needs {cut.needed} more bytes but only {cut.planned} are older than "
                f"{max(floor.min_retention_hours, policy.safety_window_hours):g} h (min_retention_hours / "
                "safety_window_hours): not met"
            )
            stats[i].floor_note = why

    live = [i for i, s in enumerate(stats) if s.error is None and devices[i] is not None]
    if floor.min_free_pct is not None:
        volumes: dict[int, list[int]] = {}
        for i in live:
            volumes.setdefault(devices[i] or 0, []).append(i)
        for members in volumes.values():
            pending = sum(stats[i].bytes_deleted for i in members) if sweepers.dry_run else 0
            needed = free_deficit(os.statvfs(roots[members[0]].path), floor.min_free_pct, pending)
            cut = cutoff_for(AgeHistogram.merged(histograms[i] for i in members), needed, latest)
            for i in members:
                stricter(i, cut)
    if floor.max_log_bytes is not None:
        kept = sum(histograms[i].total for i in live)
        cut = cutoff_for(AgeHistogram.merged(histograms[i] for i in live), kept - floor.max_log_bytes, latest)
        for i in live:
            stricter(i, cut)
    for i, cut in sorted(cuts.items()):
        assert cut.cutoff is not None
        days = (policy.now - cut.cutoff) / DAY
        floor_policy = RetentionPolicy(
            days,
            {dag: min(keep, days) for dag, keep in policy.per_dag_days.items()},
            policy.safety_window_hours,
            policy.now,
        )
        again = sweepers.sweep(roots[i], floor_policy, None)
        first = stats[i]
        if (
            sweepers.dry_run
        ):  # the second walk counts the age rule's files again: only the rest is the floor's
            files, freed = (
                again.files_deleted - first.files_deleted,
                again.bytes_deleted - first.bytes_deleted,
            )
        else:
            files, freed = again.files_deleted, again.bytes_deleted
            first.dirs_removed += again.dirs_removed
            for dag, (n, size) in again.per_dag.items():
                acc = first.per_dag.setdefault(dag, [0, 0])
                acc[0] += n
                acc[1] += size
        first.floor_files, first.floor_bytes, first.floor_cutoff = files, freed, cut.cutoff
        first.files_deleted += files
        first.bytes_deleted += freed
        first.files_kept = max(0, first.files_kept - files)
        log.info(
            "%s %s: the free-space floor %s %d more files (%d bytes)",
            first.label,
            first.path,
            "would delete" if sweepers.dry_run else "deleted",
            files,
            freed,
        )
