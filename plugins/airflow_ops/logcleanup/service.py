"""Sweep every root of one worker: the domain entry point of the log cleanup kind (Airflow-free)."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from airflow_ops.logcleanup.roots import LogRoot
from airflow_ops.logcleanup.sweep import LogSweeper, RetentionPolicy, RootStats

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
) -> list[RootStats]:
    """Sweep each root once; roots nested in another are skipped by the outer walk and swept alone."""
    ids: set[tuple[int, int]] = set()
    seen: set[str] = set()
    unique: list[LogRoot] = []
    for root in roots:
        if root.path in seen:
            continue
        seen.add(root.path)
        unique.append(root)
        try:
            st = os.stat(root.path)
        except OSError:
            continue
        ids.add((st.st_dev, st.st_ino))
    out: list[RootStats] = []
    for root in unique:
        try:
            own = os.stat(root.path)
            skip = ids - {(own.st_dev, own.st_ino)}
        except OSError:
            skip = ids
        factory = None
        if archive is not None:
            from airflow_ops.logcleanup.archive import S3LogArchiver

            prefix = f"{archive.prefix.strip('/')}/{socket.gethostname()}/{root.label}/{run_key}"

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
            dry_run=dry_run,
            remove_empty_dirs=remove_empty_dirs,
            skip_dirs=skip,
            archiver_factory=factory,
        )
        stats = sweeper.sweep(root.label, root.path, root.dag_layout)
        log.info(
            "%s %s: %d files (%d bytes) %s, %d kept, skipped %s",
            root.label,
            root.path,
            stats.files_deleted,
            stats.bytes_deleted,
            "would be deleted" if dry_run else "deleted",
            stats.files_kept,
            dict(stats.skipped) or "none",
        )
        out.append(stats)
    return out
