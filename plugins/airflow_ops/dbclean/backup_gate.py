"""Refuse a metadata purge without a recent verified backup (pointer format: :mod:`airflow_ops.assets`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_ops.backup.pointer import pointer_key, read_latest_verified
from airflow_ops.exceptions import AirflowOpsError


class BackupNotVerifiedError(AirflowOpsError):
    """No verified backup recent enough: the cleanup refuses to delete anything."""


@dataclass(frozen=True)
class BackupStatus:
    key: str | None
    verified_at: str | None
    age_hours: float | None
    ok: bool
    reason: str
    #: what the report should mention although the gate passed (e.g. a pointer without identity)
    notes: list[str] = field(default_factory=list)


def check_latest_backup(
    client: Any,
    bucket: str,
    prefix: str,
    max_age_hours: float,
    now: dt.datetime | None = None,
    database: Mapping[str, Any] | None = None,
) -> BackupStatus:
    """The pointer's verdict: recent enough and, when ``database`` (the identity of the DB about to
    be purged, :mod:`airflow_ops.backup.identity`) is given, a backup of that very database."""
    from airflow_ops.backup.identity import describe, same_database

    now = now or dt.datetime.now(dt.UTC)
    where = f"s3://{bucket}/{pointer_key(prefix)}"
    try:
        pointer = read_latest_verified(client, bucket, prefix)
    except Exception as exc:
        return BackupStatus(None, None, None, False, f"cannot read {where}: {exc}")
    if pointer is None:
        return BackupStatus(None, None, None, False, f"no verified backup pointer at {where}")
    verified = dt.datetime.fromisoformat(pointer.verified_at)  # the record checked it is ISO 8601
    if verified.tzinfo is None:
        verified = verified.replace(tzinfo=dt.UTC)
    age = (now - verified).total_seconds() / 3600
    ok = age <= max_age_hours
    reason = f"latest verified backup {pointer.key} is {age:.1f} h old (limit {max_age_hours:g} h)"
    notes: list[str] = []
    backed_up: Mapping[str, Any] = pointer.database
    if database is not None and not backed_up:
        notes.append(
            f"{where} does not say which database it backs up (written before airflow-ops recorded it): "
            f"cannot confirm it is {describe(database)}; the next verified backup records it"
        )
    elif database is not None and not same_database(backed_up, database):
        return BackupStatus(
            pointer.key,
            verified.isoformat(),
            round(age, 2),
            False,
            f"{where} is a backup of {describe(backed_up)}, but this DAG purges {describe(database)}: "
            "point backup_bucket/backup_prefix at the backup DAG of this database",
        )
    return BackupStatus(pointer.key, verified.isoformat(), round(age, 2), ok, reason, notes)


def require_recent_backup(status: BackupStatus, override: bool) -> list[str]:
    """Raise unless ``status.ok`` or ``override``; return warnings for the report."""
    if status.ok:
        return []
    if override:
        return [f"backup check overridden by param: {status.reason}"]
    raise BackupNotVerifiedError(
        f"refusing to purge the metadata DB: {status.reason}. Run the metadata backup DAG "
        "(ops_metadata_backup) and let it verify, or trigger this DAG with param "
        "`skip_backup_check: true` if you accept purging without a recent verified backup."
    )
