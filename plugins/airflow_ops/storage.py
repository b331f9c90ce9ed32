"""The one S3 layer: confirmed uploads, listing, batched deletes, server-side encryption arguments.

Every helper takes a boto3 S3 client (from ``S3Hook(...).get_conn()`` in tasks, plain boto3 in the
CLIs), so the domain packages stay Airflow-free. Failures raise :class:`StorageError`, whose message
names the bucket and key and says what to check; domain errors that add context subclass it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from airflow_ops.exceptions import AirflowOpsError

#: S3's limit on keys per DeleteObjects request.
DELETE_BATCH = 1000


class StorageError(AirflowOpsError):
    """An S3 call failed or an upload could not be confirmed."""


def aws_reason(exc: BaseException) -> str:
    """A botocore error as one line: its code and message, else the exception's own text."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and "Error" in resp:
        err = resp["Error"]
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def sse_args(sse: str | None, kms_key_id: str | None = None) -> dict[str, str]:
    """ExtraArgs for server-side encryption: ``AES256`` (SSE-S3), ``aws:kms`` (SSE-KMS), else none."""
    if sse == "AES256":
        return {"ServerSideEncryption": "AES256"}
    if sse == "aws:kms":
        args = {"ServerSideEncryption": "aws:kms"}
        if kms_key_id:
            args["SSEKMSKeyId"] = kms_key_id
        return args
    return {}


def confirm(client: Any, bucket: str, key: str, size: int, sha256: str | None = None) -> None:
    """HEAD ``key`` and compare its size (and the sha256 we stored in its metadata, when given)."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise StorageError(
            f"s3://{bucket}/{key} cannot be confirmed after upload: {aws_reason(exc)}"
        ) from exc
    stored = int(head["ContentLength"])
    if stored != size:
        raise StorageError(
            f"s3://{bucket}/{key} has {stored} bytes, expected {size}: the upload is not confirmed"
        )
    if sha256 is not None and head.get("Metadata", {}).get("sha256") not in (None, sha256):
        raise StorageError(
            f"s3://{bucket}/{key} carries another sha256 than was sent: the upload is not confirmed"
        )


def put_confirmed(
    client: Any,
    bucket: str,
    key: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    sse: dict[str, str] | None = None,
) -> str:
    """PUT ``data`` (its sha256 in the object's metadata), then confirm it; return the sha256."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata={"sha256": digest},
            **(sse or {}),
        )
    except Exception as exc:
        raise StorageError(
            f"upload to s3://{bucket}/{key} failed: {aws_reason(exc)} (check the bucket exists and the AWS "
            "connection may write to it)"
        ) from exc
    confirm(client, bucket, key, len(data), digest)
    return digest


def upload_file_confirmed(
    client: Any, bucket: str, key: str, path: str | os.PathLike[str], sse: dict[str, str] | None = None
) -> int:
    """Upload a local file with the transfer manager, then confirm its size; return the size."""
    size = os.path.getsize(path)
    try:
        client.upload_file(str(path), bucket, key, ExtraArgs=sse or None)
    except Exception as exc:
        raise StorageError(
            f"upload to s3://{bucket}/{key} failed: {aws_reason(exc)} (check the bucket exists and the AWS "
            "connection may write to it)"
        ) from exc
    confirm(client, bucket, key, size)
    return size


def read_bytes(client: Any, bucket: str, key: str) -> bytes:
    try:
        body: BinaryIO = client.get_object(Bucket=bucket, Key=key)["Body"]
        return body.read()
    except Exception as exc:
        raise StorageError(f"cannot read s3://{bucket}/{key}: {aws_reason(exc)}") from exc


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (all pages), as ``list_objects_v2`` describes it."""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot list s3://{bucket}/{prefix}: {aws_reason(exc)}") from exc


def delete_keys(client: Any, bucket: str, keys: Iterable[str]) -> int:
    """Delete ``keys`` in batches of 1000; raise naming the keys left when any delete fails."""
    doomed = list(keys)
    deleted = 0
    for start in range(0, len(doomed), DELETE_BATCH):
        batch = doomed[start : start + DELETE_BATCH]
        try:
            resp = client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        except Exception as exc:
            left = doomed[start:]
            raise StorageError(
                f"deleting in s3://{bucket} failed: {aws_reason(exc)}; {len(left)} key(s) left, first "
                f"{left[0]!r} (fix: grant s3:DeleteObject, then re-run)"
            ) from exc
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            raise StorageError(
                f"could not delete {len(errors)} object(s) in s3://{bucket}/ (first: {first.get('Key')}: "
                f"{first.get('Code')}); fix: grant s3:DeleteObject, then re-run"
            )
        deleted += len(batch)
    return deleted
