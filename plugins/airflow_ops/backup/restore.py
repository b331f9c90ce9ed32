"""Restore a backup into a target database (used by ``scripts/restore_metadata_db.py``).

Order of work: pick the backup, check the target is empty (or ``force``), verify the object's
sha256 against the manifest with a first streamed pass, then stream it into ``pg_restore``
(hashing again) and compare every table's row count with the manifest.
"""

from __future__ import annotations

import logging
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

    try:
        conn = target.connect()
    except DatabaseConnectError as exc:
        raise BackupError(
            f"cannot connect to the restore target {target!r}: {exc.reason}. Fix: create the "
            f"database first (createdb {target.dbname}) and check host/port/user/PGPASSWORD."
        ) from None
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        return int(cur.fetchone()[0])
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
) -> RestorePlan:
    manifest = read_manifest(client, bucket, backup.manifest_key)
    tables = count_user_tables(target)
    plan = RestorePlan(backup, manifest, target, tables, dry_run, force)
    if tables and not force:
        raise RestoreRefused(
            f"target database {target!r} is not empty ({tables} tables). Restore into a fresh database "
            "(createdb ...) or pass --force to drop and replace the objects the backup contains."
        )
    major = int(manifest.server_version.split(".")[0])
    pg_restore = select_tool("pg_restore", major, pg_bin_dirs)
    log.info("Verifying s3://%s/%s (sha256 %s)", bucket, manifest.key, manifest.sha256)
    check_archive(client, manifest, pg_restore)
    if dry_run:
        return plan
    restore_stream(client, manifest, pg_restore, target, clean=bool(tables))
    plan.restored = True
    plan.mismatches = compare_counts(manifest, target)
    return plan
