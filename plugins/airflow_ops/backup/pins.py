"""Pins: a backup marked as kept until someone unpins it (``<folder>/pinned.json``).

Retention never deletes a pinned backup, whatever its age or verification (e.g. the backup taken
before an upgrade). Pin with the ``pin`` run param of the backup DAG (its own backup) or with
``airflow-ops restore-backup --pin STAMP --reason TEXT``; unpin with ``--unpin STAMP``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airflow_ops.backup.errors import BackupError
from airflow_ops.backup.layout import PINNED_NAME, parse_stamp

PIN_FORMAT = 1


def _not_found(exc: BaseException) -> bool:
    """Whether a HEAD failed because the key is not there (S3 answers 404 to HEAD, without a body)."""
    from airflow_ops.storage import error_code

    return error_code(exc) in ("404", "NoSuchKey", "NotFound")


def _folder(prefix: str, backup: str) -> str:
    """The folder of ``backup`` (a stamp such as 2026-11-23T000000Z, or its folder) under ``prefix``."""
    stamp = backup.strip("/").rsplit("/", 1)[-1]
    if parse_stamp(stamp) is None:
        raise BackupError(f"{backup!r} is not a backup name: use its folder stamp, e.g. 2026-11-23T000000Z")
    return f"{prefix.strip('/')}/{stamp}"


def pin_backup(
    client: Any, bucket: str, prefix: str, backup: str, reason: str, by: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Write ``pinned.json`` in the backup's folder (which must hold a dump); return the record."""
    from airflow_ops.backup.layout import DUMP_NAME
    from airflow_ops.storage import put_confirmed

    reason = " ".join(reason.split())
    if not reason:
        raise BackupError(
            "a pin needs a reason (e.g. 'before the 3.3 upgrade'), so others know why it is kept"
        )
    folder = _folder(prefix, backup)
    try:
        client.head_object(Bucket=bucket, Key=f"{folder}/{DUMP_NAME}")
    except Exception as exc:
        if _not_found(exc):
            raise BackupError(f"no backup at s3://{bucket}/{folder}/: nothing to pin (see --list)") from None
        raise
    record = {
        "format": PIN_FORMAT,
        "folder": folder,
        "reason": reason[:300],
        "pinned_by": by,
        "pinned_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
    }
    put_confirmed(
        client, bucket, f"{folder}/{PINNED_NAME}", json.dumps(record, indent=2).encode(), "application/json"
    )
    return record


def unpin_backup(client: Any, bucket: str, prefix: str, backup: str) -> bool:
    """Remove the pin; return whether there was one."""
    folder = _folder(prefix, backup)
    key = f"{folder}/{PINNED_NAME}"
    try:
        client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _not_found(exc):
            return False
        raise
    client.delete_object(Bucket=bucket, Key=key)
    return True


def read_pin(client: Any, bucket: str, folder: str) -> dict[str, Any]:
    """The pin record of a pinned folder (a record without reason when it cannot be read)."""
    try:
        body = client.get_object(Bucket=bucket, Key=f"{folder}/{PINNED_NAME}")["Body"].read()
        data: dict[str, Any] = json.loads(body)
    except Exception as exc:
        return {"folder": folder, "reason": f"(pin record unreadable: {type(exc).__name__})"}
    data.setdefault("folder", folder)
    return data


def describe(pin: dict[str, Any]) -> str:
    """``<stamp> (<reason>, by <who> <when>)`` for reports and listings."""
    stamp = str(pin.get("folder", "")).rsplit("/", 1)[-1]
    who = f", by {pin['pinned_by']}" if pin.get("pinned_by") else ""
    when = f" {pin['pinned_at']}" if pin.get("pinned_at") else ""
    return f"{stamp} ({pin.get('reason') or 'no reason'}{who}{when})"
