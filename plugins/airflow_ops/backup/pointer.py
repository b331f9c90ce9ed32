"""The "latest verified backup" pointer object (format documented in :mod:`airflow_ops.assets`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_ops.storage import StorageError, put_confirmed, read_json

LATEST_VERIFIED_NAME = "latest-verified.json"
POINTER_FORMAT = 1


@dataclass(frozen=True)
class VerifiedBackup:
    """What verify records about one verified backup: ``<folder>/verified.json`` holds it, and the
    latest-verified pointer holds it with ``format``. The writer and every reader go through here."""

    key: str  #: the dump object
    verified_at: str  #: ISO 8601, when verification finished
    dag_id: str = ""
    logical_date: str = ""  #: the date the backup is keyed on; empty in a hand-written pointer
    manifest_key: str = ""
    sha256: str = ""
    size_bytes: int = 0
    full_restore_checked: bool = False
    #: which database this backs up (absent in records written before 2026-12)
    database: Mapping[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return self.key.rsplit("/", 1)[0]

    @property
    def when(self) -> dt.datetime | None:
        """The logical date, or ``None`` when there is none (a hand-written or foreign pointer):
        such a pointer cannot block a verified backup from replacing it."""
        try:
            return dt.datetime.fromisoformat(self.logical_date)
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        """The record as ``verified.json`` holds it (the pointer adds ``format``)."""
        return {**asdict(self), "database": dict(self.database)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> VerifiedBackup:
        """Parse a record read from ``where``; anything else is a one-line :class:`StorageError`."""
        if not isinstance(data, dict):
            raise StorageError(f"{where} holds JSON but not a pointer object")
        fmt = data.get("format", POINTER_FORMAT)
        if fmt != POINTER_FORMAT:
            raise StorageError(
                f"{where} has format {fmt!r}; this airflow-ops reads format {POINTER_FORMAT} (upgrade it)"
            )
        types: dict[str, type] = {
            "key": str,
            "verified_at": str,
            "dag_id": str,
            "logical_date": str,
            "manifest_key": str,
            "sha256": str,
            "size_bytes": int,
            "full_restore_checked": bool,
            "database": dict,
        }
        for name in ("key", "verified_at"):
            if not data.get(name):
                raise StorageError(f"{where} is not a verified-backup record: it has no {name!r}")
        values: dict[str, Any] = {}
        for name, kind in types.items():
            if name in data and data[name] is not None:
                if not isinstance(data[name], kind):
                    raise StorageError(f"{where}: {name} {data[name]!r} should be of type {kind.__name__}")
                values[name] = data[name]
        try:
            dt.datetime.fromisoformat(values["verified_at"])
        except ValueError:
            raise StorageError(f"{where}: verified_at {values['verified_at']!r} is not ISO 8601") from None
        return cls(**values)


def pointer_key(prefix: str) -> str:
    return f"{prefix.strip('/')}/{LATEST_VERIFIED_NAME}"


def write_latest_verified(client: Any, bucket: str, prefix: str, record: VerifiedBackup) -> str:
    """Write the pointer (JSON), read it back and compare; return its key."""
    key = pointer_key(prefix)
    body = {"format": POINTER_FORMAT, **record.to_json()}
    put_confirmed(
        client, bucket, key, json.dumps(body, indent=2, sort_keys=True).encode(), "application/json"
    )
    _read_back(client, bucket, key, body)
    return key


def read_latest_verified(client: Any, bucket: str, prefix: str) -> VerifiedBackup | None:
    """The parsed pointer, or ``None`` when no backup has been verified yet.

    A pointer that does not match the sha256 stored with it, is not JSON or not a verified-backup
    record raises :class:`~airflow_ops.storage.StorageError` (one line).
    """
    key = pointer_key(prefix)
    data = read_json(client, bucket, key, missing_ok=True)
    if data is None:
        return None
    return VerifiedBackup.from_json(data, f"s3://{bucket}/{key}")


def read_verified_record(client: Any, bucket: str, folder: str) -> VerifiedBackup | None:
    """``<folder>/verified.json`` parsed, or ``None`` when it is missing."""
    from airflow_ops.backup.layout import VERIFIED_NAME

    key = f"{folder.strip('/')}/{VERIFIED_NAME}"
    data = read_json(client, bucket, key, missing_ok=True)
    return None if data is None else VerifiedBackup.from_json(data, f"s3://{bucket}/{key}")


def _read_back(client: Any, bucket: str, key: str, expected: dict[str, Any]) -> None:
    """A sidecar is verified like the dump: read it back (sha256 checked) and compare its content."""
    if read_json(client, bucket, key) != expected:
        raise StorageError(f"s3://{bucket}/{key} reads back different from what was written: not verified")


def mark_verified(
    client: Any,
    manifest: Any,
    prefix: str,
    verified_at: str,
    full_restore_checked: bool,
) -> bool:
    """Write ``verified.json`` next to the dump and advance the pointer; return whether it moved.

    The pointer only moves forward: verifying a backfilled, older date leaves it alone.
    """
    from airflow_ops.backup.layout import VERIFIED_NAME

    folder = manifest.key.rsplit("/", 1)[0]
    record = VerifiedBackup(
        dag_id=manifest.dag_id,
        logical_date=manifest.logical_date,
        key=manifest.key,
        manifest_key=f"{folder}/manifest.json",
        sha256=manifest.sha256,
        size_bytes=manifest.size_bytes,
        verified_at=verified_at,
        full_restore_checked=full_restore_checked,
        # Which database this is a backup of: the DB cleanup gate refuses a pointer for another one.
        database=dict(getattr(manifest, "database", None) or {}),
    )
    verified_key = f"{folder}/{VERIFIED_NAME}"
    body = record.to_json()
    put_confirmed(
        client,
        manifest.bucket,
        verified_key,
        json.dumps(body, indent=2, sort_keys=True).encode(),
        "application/json",
    )
    _read_back(client, manifest.bucket, verified_key, body)
    try:
        current = read_latest_verified(client, manifest.bucket, prefix)
    except StorageError as exc:
        import logging

        logging.getLogger(__name__).warning("Replacing an unreadable pointer: %s", exc)
        current = None
    theirs = current.when if current is not None else None
    if theirs is not None and theirs > dt.datetime.fromisoformat(record.logical_date):
        return False
    write_latest_verified(client, manifest.bucket, prefix, record)
    return True


def unpoint_folder(client: Any, bucket: str, prefix: str, folder: str) -> str | None:
    """Before ``folder``'s dump is replaced (a re-run of its date), make sure the pointer does not
    name it: point it back at the newest other verified backup, or remove it when there is none.

    Otherwise, from the moment the new dump lands until verify passes (and for ever when it fails
    or the task is killed), the pointer would name an object that is not the one it verified: the
    DB cleanup gate would trust it and the restore would refuse it. Returns the key the pointer
    now names (``None``: no pointer). Verify moves it forward again.
    """
    import logging

    from airflow_ops.backup.catalog import list_backups
    from airflow_ops.backup.layout import DUMP_NAME

    try:
        current = read_latest_verified(client, bucket, prefix)
    except StorageError:
        current = None  # unreadable: verify replaces it
    if current is None or current.folder != folder.strip("/"):
        return current.key if current is not None else None
    log = logging.getLogger(__name__)
    key = pointer_key(prefix)
    for entry in reversed(list_backups(client, bucket, prefix)):
        if entry.folder == folder.strip("/") or not entry.verified or entry.dump_key not in entry.keys:
            continue
        try:
            record = read_verified_record(client, bucket, entry.folder)
        except StorageError:
            continue  # an unreadable record proves nothing: try the next older one
        if record is not None and record.key == f"{entry.folder}/{DUMP_NAME}":
            write_latest_verified(client, bucket, prefix, record)
            log.warning(
                "Re-running %s: %s now points at the previous verified backup %s", folder, key, entry.folder
            )
            return record.key
    client.delete_object(Bucket=bucket, Key=key)
    log.warning("Re-running %s, the only verified backup: %s removed until verify passes", folder, key)
    return None
