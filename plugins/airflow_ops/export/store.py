"""Where exports live in S3: one idempotent key per logical date, plus a plaintext manifest.

Layout: ``<prefix>/<dag_id>/<YYYY>/<MM>/config-export-<YYYYmmddTHHMMSSZ>.aopscx`` and the same key
with ``.manifest.json``. The manifest (counts, names, keyed hashes, object checksum) is written
only after the object upload is verified, so it marks a complete export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from airflow_ops.exceptions import AirflowOpsError

OBJECT_SUFFIX = ".aopscx"
MANIFEST_SUFFIX = ".manifest.json"
_STAMP = re.compile(r"config-export-(\d{8}T\d{6}Z)\.aopscx\.manifest\.json$")


class ExportStoreError(AirflowOpsError):
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
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                m = _STAMP.search(obj["Key"])
                if m:
                    when = dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                    refs.append(ExportRef(obj["Key"][: -len(MANIFEST_SUFFIX)], when))
    except Exception as exc:
        raise ExportStoreError(f"cannot list s3://{bucket}/{prefix}: {_aws_reason(exc)}") from None
    return sorted(refs, key=lambda r: r.when)


def load_manifest(client: Any, bucket: str, ref: ExportRef) -> dict[str, Any]:
    try:
        body = client.get_object(Bucket=bucket, Key=ref.manifest_key)["Body"].read()
        manifest: dict[str, Any] = json.loads(body)
    except Exception as exc:
        raise ExportStoreError(
            f"cannot read manifest s3://{bucket}/{ref.manifest_key}: {_aws_reason(exc)}"
        ) from None
    return manifest


def upload_export(
    client: Any, bucket: str, key: str, blob: bytes, manifest: dict[str, Any], sse_kms_key_id: str | None
) -> dict[str, Any]:
    """Upload object, verify its size and checksum round trip, then write the manifest."""
    extra: dict[str, Any] = {}
    if sse_kms_key_id:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": sse_kms_key_id}
    sha = hashlib.sha256(blob).hexdigest()
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=blob,
            ContentType="application/octet-stream",
            Metadata={"sha256": sha},
            **extra,
        )
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise ExportStoreError(f"upload to s3://{bucket}/{key} failed: {_aws_reason(exc)}") from None
    if int(head["ContentLength"]) != len(blob) or head.get("Metadata", {}).get("sha256") != sha:
        raise ExportStoreError(
            f"upload to s3://{bucket}/{key} not verified: "
            f"stored {head['ContentLength']} bytes, sent {len(blob)}"
        )
    manifest = {**manifest, "object_key": key, "object_sha256": sha, "object_bytes": len(blob)}
    try:
        client.put_object(
            Bucket=bucket,
            Key=key + MANIFEST_SUFFIX,
            ContentType="application/json",
            Body=json.dumps(manifest, sort_keys=True).encode("utf-8"),
            **extra,
        )
    except Exception as exc:
        raise ExportStoreError(
            f"manifest upload for s3://{bucket}/{key} failed: {_aws_reason(exc)}"
        ) from None
    return manifest


def delete_exports(client: Any, bucket: str, refs: list[ExportRef]) -> int:
    keys = [k for r in refs for k in (r.object_key, r.manifest_key)]
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i : i + 1000]]
        try:
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        except Exception as exc:
            raise ExportStoreError(
                f"deleting expired exports in s3://{bucket} failed: {_aws_reason(exc)}"
            ) from None
        if resp.get("Errors"):
            first = resp["Errors"][0]
            raise ExportStoreError(f"could not delete s3://{bucket}/{first['Key']}: {first.get('Message')}")
    return len(refs)


def _aws_reason(exc: Exception) -> str:
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and "Error" in resp:
        err = resp["Error"]
        hint = "check the bucket exists and the aws connection's rights"
        return f"{err.get('Code')}: {err.get('Message')} ({hint})"
    return f"{type(exc).__name__}: {exc}"
