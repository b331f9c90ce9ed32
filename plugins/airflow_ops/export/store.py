"""Where exports live in S3: one idempotent key per logical date, plus a plaintext manifest.

Layout: ``<prefix>/<dag_id>/<YYYY>/<MM>/config-export-<YYYYmmddTHHMMSSZ>.aopscx`` and the same key
with ``.manifest.json``. The manifest (counts, names, keyed hashes, object checksum) is written
only after the object upload is verified, so it marks a complete export.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from airflow_ops.storage import (
    StorageError,
    aws_reason,
    delete_keys,
    fix_for,
    list_objects,
    put_confirmed,
    read_json,
    sse_args,
)

OBJECT_SUFFIX = ".aopscx"
MANIFEST_SUFFIX = ".manifest.json"
_STAMP = re.compile(r"config-export-(\d{8}T\d{6}Z)\.aopscx\.manifest\.json$")


class ExportStoreError(StorageError):
    pass


@dataclass(frozen=True)
class ExportRef:
    object_key: str
    when: dt.datetime

    @property
    def manifest_key(self) -> str:
        return self.object_key + MANIFEST_SUFFIX


def base_prefix(prefix: str, dag_id: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), dag_id) if p) + "/"


def object_key(prefix: str, dag_id: str, when: dt.datetime) -> str:
    when = when.astimezone(dt.UTC)
    return f"{base_prefix(prefix, dag_id)}{when:%Y/%m}/config-export-{when:%Y%m%dT%H%M%SZ}{OBJECT_SUFFIX}"


def list_exports(client: Any, bucket: str, prefix: str) -> list[ExportRef]:
    """Every complete export (one with a manifest) under ``prefix``, oldest first."""
    refs: list[ExportRef] = []
    try:
        for obj in list_objects(client, bucket, prefix):
            m = _STAMP.search(obj["Key"])
            if m:
                when = dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                refs.append(ExportRef(obj["Key"][: -len(MANIFEST_SUFFIX)], when))
    except StorageError as exc:
        raise ExportStoreError(str(exc)) from None
    return sorted(refs, key=lambda r: r.when)


def load_manifest(client: Any, bucket: str, ref: ExportRef) -> dict[str, Any]:
    try:
        manifest = read_json(client, bucket, ref.manifest_key)
    except StorageError as exc:
        raise ExportStoreError(
            f"manifest unusable: {exc} (check the bucket exists and the aws connection's rights)"
        ) from None
    if not isinstance(manifest, dict):
        raise ExportStoreError(f"manifest s3://{bucket}/{ref.manifest_key} is JSON but not an object")
    return manifest


def upload_export(
    client: Any, bucket: str, key: str, blob: bytes, manifest: dict[str, Any], sse_kms_key_id: str | None
) -> dict[str, Any]:
    """Upload the object and confirm it (size and sha256), then write and confirm the manifest.

    A re-run of a date first removes that date's manifest, so an old manifest never describes the
    new object; when the object or the manifest cannot be stored, the object is deleted again, so a
    failed upload leaves neither an object without its manifest nor a manifest of another object.
    """
    sse = sse_args("aws:kms", sse_kms_key_id) if sse_kms_key_id else {}
    manifest_key = key + MANIFEST_SUFFIX
    try:
        client.delete_object(Bucket=bucket, Key=manifest_key)
    except Exception as exc:
        raise ExportStoreError(
            f"cannot replace s3://{bucket}/{manifest_key}: {aws_reason(exc)}; nothing was uploaded "
            "(fix: " + fix_for(exc, "grant the AWS connection s3:DeleteObject") + ")"
        ) from None
    try:
        sha = put_confirmed(client, bucket, key, blob, "application/octet-stream", sse)
        manifest = {**manifest, "object_key": key, "object_sha256": sha, "object_bytes": len(blob)}
        body = json.dumps(manifest, sort_keys=True).encode("utf-8")
        put_confirmed(client, bucket, manifest_key, body, "application/json", sse)
    except StorageError as exc:
        raise ExportStoreError(f"{exc}; {_remove_unlisted(client, bucket, key)}") from None
    return manifest


def _remove_unlisted(client: Any, bucket: str, key: str) -> str:
    """Delete an object whose manifest could not be written; say what is left."""
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:
        return (
            f"the export object could not be removed either ({aws_reason(exc)}): s3://{bucket}/{key} may "
            "be left without its manifest (listings and retention ignore it; the next run of this date "
            "replaces it)"
        )
    return "no export of this date is stored; re-run the task"


def delete_exports(client: Any, bucket: str, refs: list[ExportRef]) -> int:
    """Delete every manifest first, then the objects: the deletes go in batches of 1,000, and a run
    killed between two must not leave a manifest (what marks an export complete) without its object."""
    from airflow_ops.export.retention import deletion_keys

    try:
        delete_keys(client, bucket, deletion_keys(refs))
    except StorageError as exc:
        raise ExportStoreError(f"deleting expired exports: {exc}") from None
    return len(refs)


def _aws_reason(exc: Exception) -> str:
    return f"{aws_reason(exc)} (check the bucket exists and the aws connection's rights)"
