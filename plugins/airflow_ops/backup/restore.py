"""Restore a backup into a target database (used by ``scripts/restore_metadata_db.py``).

Order of work: pick the backup, check the target is empty (or ``force``), verify the object's
sha256 against the manifest with a first streamed pass, say what the restore will create and
replace (``announce``, also in a dry run), then stream it into ``pg_restore`` (hashing again) and
compare every table's row count with the manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_ops.backup.catalog import BackupEntry, list_backups, read_manifest
from airflow_ops.backup.errors import BackupError, RestoreRefused
from airflow_ops.backup.manifest import BackupManifest
from airflow_ops.backup.pgtools import select_tool
from airflow_ops.backup.verify import check_archive, compare_counts, restore_stream
from airflow_ops.connections import DatabaseConnectError, PostgresTarget

log = logging.getLogger(__name__)


@dataclass
class RestorePlan:
    backup: BackupEntry
    manifest: BackupManifest
    target: PostgresTarget
    target_tables: int
    dry_run: bool
    force: bool
    restored: bool = False
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The target's user tables before the restore (``schema.table``, quoted as the manifest names them).
    target_table_names: list[str] = field(default_factory=list)

    @property
    def replaced(self) -> list[str]:
        """Target tables the backup also holds: ``pg_restore --clean`` drops them and loads the backup's."""
        return sorted(set(self.manifest.table_row_counts) & set(self.target_table_names))

    @property
    def created(self) -> list[str]:
        """Tables of the backup the target does not have yet."""
        return sorted(set(self.manifest.table_row_counts) - set(self.target_table_names))

    @property
    def kept(self) -> list[str]:
        """Target tables the backup does not hold: the restore leaves them as they are."""
        return sorted(set(self.target_table_names) - set(self.manifest.table_row_counts))


def choose_backup(
    client: Any, bucket: str, prefix: str, stamp: str | None, verified_only: bool = True
) -> BackupEntry:
    """The backup in folder ``stamp`` (e.g. ``2026-11-23T000000Z``), or the newest usable one."""
    backups = [b for b in list_backups(client, bucket, prefix) if b.complete]
    if stamp:
        for b in backups:
            if b.folder.rsplit("/", 1)[-1] == stamp:
                return b
        raise BackupError(f"no backup {stamp!r} under s3://{bucket}/{prefix}/ (list them with --list)")
    candidates = [b for b in backups if b.verified or not verified_only]
    if not candidates:
        raise BackupError(
            f"no {'verified ' if verified_only else ''}backup under s3://{bucket}/{prefix}/"
            + (" (pass --allow-unverified to consider unverified ones)" if verified_only else "")
        )
    return candidates[-1]


def count_user_tables(target: PostgresTarget) -> int:
    return len(list_user_tables(target))


def list_user_tables(target: PostgresTarget) -> list[str]:
    """The target's user tables as ``schema.table`` (quoted like the manifest's names)."""
    from airflow_ops.backup.dump import user_tables

    try:
        conn = target.connect()
    except DatabaseConnectError as exc:
        raise BackupError(
            f"cannot connect to the restore target {target!r}: {exc.reason}. Fix: create the "
            f"database first (createdb {target.dbname}) and check host/port/user/PGPASSWORD."
        ) from None
    try:
        return user_tables(conn.cursor())
    finally:
        conn.close()


def restore_backup(
    client: Any,
    bucket: str,
    backup: BackupEntry,
    target: PostgresTarget,
    *,
    pg_bin_dirs: list[str],
    force: bool = False,
    dry_run: bool = False,
    announce: Callable[[RestorePlan], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RestorePlan:
    """Restore ``backup`` into ``target``; ``announce(plan)`` is called once the archive is verified and
    before anything is written (in a dry run too), so the caller can say what will be replaced;
    ``progress(bytes restored)`` follows the restore."""
    manifest = read_manifest(client, bucket, backup.manifest_key)
    names = list_user_tables(target)
    tables = len(names)
    plan = RestorePlan(backup, manifest, target, tables, dry_run, force, target_table_names=names)
    if tables and not force:
        raise RestoreRefused(
            f"target database {target!r} is not empty ({tables} tables, {len(plan.replaced)} of them in the "
            "backup). Restore into a fresh database (createdb ...) or pass --force to drop and replace the "
            "tables the backup contains (see which with --force --dry-run)."
        )
    pg_restore = select_tool("pg_restore", manifest.pg_restore_major, pg_bin_dirs)
    log.info("Verifying s3://%s/%s (sha256 %s)", bucket, manifest.key, manifest.sha256)
    check_archive(client, manifest, pg_restore)
    if announce is not None:
        announce(plan)
    if dry_run:
        return plan
    restore_stream(client, manifest, pg_restore, target, clean=bool(tables), progress=progress)
    plan.restored = True
    plan.mismatches = compare_counts(manifest, target)
    return plan
