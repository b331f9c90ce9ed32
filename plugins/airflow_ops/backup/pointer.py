"""The "latest verified backup" pointer object (format documented in :mod:`airflow_ops.assets`)."""

from __future__ import annotations

import json
from typing import Any

from airflow_ops.storage import put_confirmed

LATEST_VERIFIED_NAME = "latest-verified.json"
POINTER_FORMAT = 1


def pointer_key(prefix: str) -> str:
    return f"{prefix.strip('/')}/{LATEST_VERIFIED_NAME}"


def write_latest_verified(client: Any, bucket: str, prefix: str, pointer: dict[str, Any]) -> str:
    """Write the pointer (JSON) and return its key."""
    key = pointer_key(prefix)
    body = json.dumps({"format": POINTER_FORMAT, **pointer}, indent=2, sort_keys=True).encode()
    put_confirmed(client, bucket, key, body, "application/json")
    return key


def read_latest_verified(client: Any, bucket: str, prefix: str) -> dict[str, Any] | None:
    """The parsed pointer, or ``None`` when no backup has been verified yet."""
    try:
        obj = client.get_object(Bucket=bucket, Key=pointer_key(prefix))
    except client.exceptions.NoSuchKey:
        return None
    data: dict[str, Any] = json.loads(obj["Body"].read())
    return data


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
    put_confirmed(
        client,
        manifest.bucket,
        f"{folder}/{VERIFIED_NAME}",
        json.dumps(record, indent=2, sort_keys=True).encode(),
        "application/json",
    )
    current = read_latest_verified(client, manifest.bucket, prefix)
    if current and _when(current["logical_date"]) > _when(manifest.logical_date):
        return False
    write_latest_verified(client, manifest.bucket, prefix, record)
    return True


def _when(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text)
