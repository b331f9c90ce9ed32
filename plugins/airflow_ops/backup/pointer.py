"""The "latest verified backup" pointer object (format documented in :mod:`airflow_ops.assets`)."""

from __future__ import annotations

import json
from typing import Any

from airflow_ops.storage import StorageError, put_confirmed, read_json

LATEST_VERIFIED_NAME = "latest-verified.json"
POINTER_FORMAT = 1


def pointer_key(prefix: str) -> str:
    return f"{prefix.strip('/')}/{LATEST_VERIFIED_NAME}"


def write_latest_verified(client: Any, bucket: str, prefix: str, pointer: dict[str, Any]) -> str:
    """Write the pointer (JSON), read it back and compare; return its key."""
    key = pointer_key(prefix)
    record = {"format": POINTER_FORMAT, **pointer}
    body = json.dumps(record, indent=2, sort_keys=True).encode()
    put_confirmed(client, bucket, key, body, "application/json")
    _read_back(client, bucket, key, record)
    return key


def read_latest_verified(client: Any, bucket: str, prefix: str) -> dict[str, Any] | None:
    """The parsed pointer, or ``None`` when no backup has been verified yet.

    A pointer that does not match the sha256 stored with it, or is not JSON, raises
    :class:`~airflow_ops.storage.StorageError` (one line).
    """
    key = pointer_key(prefix)
    data = read_json(client, bucket, key, missing_ok=True)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise StorageError(f"s3://{bucket}/{key} holds JSON but not a pointer object")
    return data


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
    record = {
        "dag_id": manifest.dag_id,
        "logical_date": manifest.logical_date,
        "key": manifest.key,
        "manifest_key": f"{folder}/manifest.json",
        "sha256": manifest.sha256,
        "size_bytes": manifest.size_bytes,
        "verified_at": verified_at,
        "full_restore_checked": full_restore_checked,
        # Which database this is a backup of: the DB cleanup gate refuses a pointer for another one.
        "database": dict(getattr(manifest, "database", None) or {}),
    }
    verified_key = f"{folder}/{VERIFIED_NAME}"
    put_confirmed(
        client,
        manifest.bucket,
        verified_key,
        json.dumps(record, indent=2, sort_keys=True).encode(),
        "application/json",
    )
    _read_back(client, manifest.bucket, verified_key, record)
    try:
        current = read_latest_verified(client, manifest.bucket, prefix)
    except StorageError as exc:
        import logging

        logging.getLogger(__name__).warning("Replacing an unreadable pointer: %s", exc)
        current = None
    if current and (newer := _pointer_when(current)) is not None and newer > _when(manifest.logical_date):
        return False
    write_latest_verified(client, manifest.bucket, prefix, record)
    return True


def _pointer_when(pointer: dict[str, Any]) -> Any:
    """The pointer's logical date, or ``None`` when it has none (a hand-written or foreign pointer):
    such a pointer cannot block a verified backup from replacing it."""
    try:
        return _when(str(pointer["logical_date"]))
    except (KeyError, TypeError, ValueError):
        return None


def _when(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text)


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
    from airflow_ops.backup.layout import DUMP_NAME, VERIFIED_NAME

    try:
        current = read_latest_verified(client, bucket, prefix)
    except StorageError:
        current = None  # unreadable: verify replaces it
    if not current or str(current.get("key", "")).rsplit("/", 1)[0] != folder.strip("/"):
        return str(current["key"]) if current else None
    log = logging.getLogger(__name__)
    key = pointer_key(prefix)
    for entry in reversed(list_backups(client, bucket, prefix)):
        if entry.folder == folder.strip("/") or not entry.verified or entry.dump_key not in entry.keys:
            continue
        record = read_json(client, bucket, f"{entry.folder}/{VERIFIED_NAME}", missing_ok=True)
        if isinstance(record, dict) and record.get("key") == f"{entry.folder}/{DUMP_NAME}":
            write_latest_verified(client, bucket, prefix, record)
            log.warning(
                "Re-running %s: %s now points at the previous verified backup %s", folder, key, entry.folder
            )
            return str(record["key"])
    client.delete_object(Bucket=bucket, Key=key)
    log.warning("Re-running %s, the only verified backup: %s removed until verify passes", folder, key)
    return None
