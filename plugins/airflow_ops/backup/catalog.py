"""What backups exist under a prefix: one entry per dated folder, read from a single listing."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_ops.backup.layout import DUMP_NAME, MANIFEST_NAME, PINNED_NAME, VERIFIED_NAME, parse_stamp
from airflow_ops.backup.manifest import BackupManifest


@dataclass
class BackupEntry:
    folder: str
    when: dt.datetime
    keys: list[str] = field(default_factory=list)
    size_bytes: int = 0
    verified: bool = False
    #: kept by retention until unpinned (``pinned.json``)
    pinned: bool = False

    @property
    def complete(self) -> bool:
        names = {k.rsplit("/", 1)[-1] for k in self.keys}
        return {DUMP_NAME, MANIFEST_NAME} <= names

    @property
    def dump_key(self) -> str:
        return f"{self.folder}/{DUMP_NAME}"

    @property
    def manifest_key(self) -> str:
        return f"{self.folder}/{MANIFEST_NAME}"


def list_backups(client: Any, bucket: str, prefix: str) -> list[BackupEntry]:
    """Every dated folder under ``prefix``, oldest first (other keys, like the pointer, are ignored)."""
    root = prefix.strip("/") + "/"
    entries: dict[str, BackupEntry] = {}
    from airflow_ops.storage import list_objects

    for obj in list_objects(client, bucket, root):
        rest = obj["Key"][len(root) :]
        if "/" not in rest:
            continue
        name = rest.split("/", 1)[0]
        when = parse_stamp(name)
        if when is None:
            continue
        entry = entries.setdefault(name, BackupEntry(folder=root + name, when=when))
        entry.keys.append(obj["Key"])
        if obj["Key"].endswith("/" + DUMP_NAME):
            entry.size_bytes = int(obj["Size"])
        if obj["Key"].endswith("/" + VERIFIED_NAME):
            entry.verified = True
        if obj["Key"].endswith("/" + PINNED_NAME):
            entry.pinned = True
    return sorted(entries.values(), key=lambda e: e.when)


def read_manifest(client: Any, bucket: str, key: str) -> BackupManifest:
    """The manifest at ``key``, checked against its stored sha256; a corrupt one is a one-line error."""
    from airflow_ops.backup.errors import BackupError
    from airflow_ops.storage import StorageError, read_json

    try:
        raw = read_json(client, bucket, key)
        if not isinstance(raw, dict):
            raise StorageError(f"s3://{bucket}/{key} holds JSON but not a manifest object")
        return BackupManifest.from_json(json.dumps(raw))
    except StorageError as exc:
        raise BackupError(f"manifest unusable: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise BackupError(
            f"manifest unusable: s3://{bucket}/{key} lacks manifest fields ({exc}); the object is corrupt "
            "or not an airflow-ops manifest"
        ) from None


def read_verification(client: Any, bucket: str, entry: BackupEntry) -> dict[str, Any] | None:
    from airflow_ops.storage import read_json

    data: dict[str, Any] | None = read_json(
        client, bucket, f"{entry.folder}/{VERIFIED_NAME}", missing_ok=True
    )
    return data
