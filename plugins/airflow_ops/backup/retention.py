"""Retention of backups: grandfather-father-son over the verified ones, plus safety rules.

The daily/weekly/monthly counting is :class:`airflow_ops.retention.GfsPolicy` (restic's
semantics), applied to *verified* backups only. On top of it:

* the newest verified backup is always kept;
* backups newer than the newest verified one are kept (in flight or awaiting a re-run);
* older unverified backups are expired (they never proved restorable);
* a pinned backup (``pinned.json``, :mod:`airflow_ops.backup.pins`) is never expired.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_ops.backup.catalog import BackupEntry, list_backups
from airflow_ops.backup.errors import BackupError
from airflow_ops.retention import GfsPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 6

    def __post_init__(self) -> None:
        if self.daily < 1 or self.weekly < 0 or self.monthly < 0:
            raise ValueError("retention needs daily >= 1 and weekly, monthly >= 0")

    def keep_reasons(self, backups: Sequence[BackupEntry]) -> dict[str, list[str]]:
        """folder -> why it is kept, for every backup the policy keeps."""
        verified = [b for b in backups if b.verified]
        gfs = GfsPolicy(keep_daily=self.daily, keep_weekly=self.weekly, keep_monthly=self.monthly)
        reasons = {
            b.folder: why
            for b, why in zip(verified, gfs.reasons(verified, lambda b: b.when), strict=True)
            if why
        }
        if verified:
            newest = max(verified, key=lambda b: b.when)
            reasons.setdefault(newest.folder, []).append("newest verified")
            for backup in backups:
                if not backup.verified and backup.when > newest.when:
                    reasons.setdefault(backup.folder, []).append("newer than newest verified")
        else:
            for backup in backups:
                reasons.setdefault(backup.folder, []).append("no verified backup yet")
        for backup in backups:
            if backup.pinned:
                reasons.setdefault(backup.folder, []).append("pinned")
        return reasons

    def select_expired(self, backups: Sequence[BackupEntry]) -> list[BackupEntry]:
        """The backups this policy deletes, oldest first."""
        keep = self.keep_reasons(backups)
        return sorted((b for b in backups if b.folder not in keep), key=lambda b: b.when)


@dataclass
class RetentionResult:
    dry_run: bool
    kept: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    objects_deleted: int = 0
    bytes_freed: int = 0
    #: the pin records of the pinned backups (folder, reason, pinned_by, pinned_at), oldest first
    pinned: list[dict[str, Any]] = field(default_factory=list)


def apply_retention(
    client: Any, bucket: str, prefix: str, policy: RetentionPolicy, dry_run: bool = False
) -> RetentionResult:
    """Delete the expired backup folders (or only list them when ``dry_run``).

    Whatever ``policy`` selects, a selection holding a pinned backup, the newest verified one or
    the one the latest-verified pointer names is refused before anything is deleted.
    """
    backups = list_backups(client, bucket, prefix)
    expired = policy.select_expired(backups)
    expired_folders = {b.folder for b in expired}
    refuse_losing_the_newest_verified(client, bucket, prefix, backups, expired_folders)
    result = RetentionResult(
        dry_run=dry_run,
        kept=[b.folder for b in backups if b.folder not in expired_folders],
        expired=[b.folder for b in expired],
    )
    if any(b.pinned for b in backups):
        from airflow_ops.backup.pins import read_pin

        result.pinned = [read_pin(client, bucket, b.folder) for b in backups if b.pinned]
    log.info(
        "Retention %s: %d backups, keeping %d, %s %d",
        policy,
        len(backups),
        len(result.kept),
        "would delete" if dry_run else "deleting",
        len(expired),
    )
    doomed: list[str] = []
    for backup in expired:
        if backup.pinned:  # select_expired never returns one; a last guard before deleting
            raise BackupError(f"retention: refusing to delete pinned backup {backup.folder}")
        result.bytes_freed += backup.size_bytes
        log.info("  %s %s", "would delete" if dry_run else "deleting", backup.folder)
        doomed.extend(sorted(backup.keys))
    if not dry_run:
        from airflow_ops.storage import StorageError, delete_keys

        try:
            result.objects_deleted += delete_keys(client, bucket, markers_first(doomed))
        except StorageError as exc:
            raise BackupError(f"retention: {exc}") from None
    return result


def refuse_losing_the_newest_verified(
    client: Any, bucket: str, prefix: str, backups: Sequence[BackupEntry], doomed: set[str]
) -> None:
    """Raise :class:`BackupError` (one line) when ``doomed`` holds the newest verified backup, or
    the folder the latest-verified pointer names: the DB cleanup gate and the restore trust them."""
    from airflow_ops.backup.pointer import read_latest_verified
    from airflow_ops.storage import StorageError

    verified = [b for b in backups if b.verified]
    if verified:
        newest = max(verified, key=lambda b: b.when)
        if newest.folder in doomed:
            raise BackupError(
                f"retention: refusing to delete {newest.folder}, the newest verified backup; nothing was "
                "deleted (the policy selected it: check the retention settings)"
            )
    try:
        pointer = read_latest_verified(client, bucket, prefix)
    except StorageError:
        pointer = None  # unreadable: the newest verified backup above is what stands in for it
    if pointer is not None and pointer.folder in doomed:
        raise BackupError(
            f"retention: refusing to delete {pointer.folder}, which the latest-verified pointer names; "
            "nothing was deleted (re-run the backup so the pointer moves on a newer verified backup)"
        )


def markers_first(keys: list[str]) -> list[str]:
    """``keys`` with every ``verified.json`` first: the deletes go in batches of 1,000, and a run
    killed between two batches must not leave a folder that still looks verified without its dump."""
    from airflow_ops.backup.layout import VERIFIED_NAME

    return sorted(keys, key=lambda k: (not k.endswith("/" + VERIFIED_NAME), k))
