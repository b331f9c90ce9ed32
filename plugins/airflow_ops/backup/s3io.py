"""S3 plumbing for backups: streaming multipart upload with sha256 on the fly, and clean aborts.

The upload reads a non-seekable stream (the pg_dump pipe) through boto3's transfer manager.
Memory is bounded by ``chunk_bytes * (concurrency + 1)`` whatever the size of the database. The
object only appears at its key when ``CompleteMultipartUpload`` succeeds; every failure path
aborts the multipart upload so nothing incomplete is left behind.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from airflow_ops.backup.errors import BackupError, BackupTargetError
from airflow_ops.storage import put_confirmed

log = logging.getLogger(__name__)


class HashingReader:
    """A read-only, non-seekable view of ``raw`` that hashes and counts what passes through.

    ``on_eof`` runs once when ``raw`` is exhausted; it may raise (e.g. pg_dump exited non-zero),
    which makes the upload fail *before* the multipart upload is completed. ``on_read`` gets the
    running byte count after every read (progress logging).
    """

    def __init__(
        self,
        raw: IO[bytes],
        on_eof: Callable[[], None] | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self._raw = raw
        self._on_eof = on_eof
        self._on_read = on_read
        self._eof = False
        self._sha = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data:
            self._sha.update(data)
            self.size += len(data)
            if self._on_read is not None:
                self._on_read(self.size)
        elif not self._eof:
            self._eof = True
            if self._on_eof is not None:
                self._on_eof()
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def check_bucket(client: Any, bucket: str) -> None:
    """Fail before dumping anything when the bucket is missing or unreachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise BackupTargetError(
                f"bucket {bucket!r} does not exist (or is not visible to the AWS connection). Fix: create it "
                f"(aws s3 mb s3://{bucket}) or set `bucket` in the DAG's config to an existing bucket."
            ) from None
        raise BackupTargetError(
            f"cannot access bucket {bucket!r}: {code or exc}. Fix: grant the AWS connection's identity "
            "s3:ListBucket, s3:PutObject, s3:GetObject, s3:DeleteObject, s3:AbortMultipartUpload on it."
        ) from None
    except BotoCoreError as exc:
        raise BackupTargetError(
            f"cannot reach S3 for bucket {bucket!r}: {exc}. Fix: check the AWS connection's endpoint/region."
        ) from None


def abort_dangling_uploads(client: Any, bucket: str, key: str) -> int:
    """Abort every incomplete multipart upload of ``key``; return how many were aborted."""
    aborted = 0
    resp = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in resp.get("Uploads", []):
        if upload["Key"] == key:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            aborted += 1
    if aborted:
        log.warning("Aborted %d incomplete multipart upload(s) of s3://%s/%s", aborted, bucket, key)
    return aborted


@dataclass(frozen=True)
class UploadResult:
    size_bytes: int
    sha256: str


def stream_upload(
    client: Any,
    reader: HashingReader,
    bucket: str,
    key: str,
    *,
    chunk_bytes: int,
    concurrency: int,
    extra_args: dict[str, str] | None = None,
    cleanup_client: Callable[[], Any] | None = None,
) -> UploadResult:
    """Stream ``reader`` to ``s3://bucket/key`` as a multipart upload; abort on any failure.

    ``cleanup_client`` builds a fresh client for the abort (the failing one may be wedged).
    """
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=chunk_bytes,
        multipart_chunksize=chunk_bytes,
        max_concurrency=concurrency,
        use_threads=True,
    )
    # Non-seekable uploads buffer whole parts: this caps how many sit in memory at once.
    config.max_in_memory_upload_chunks = concurrency + 1
    try:
        client.upload_fileobj(reader, bucket, key, ExtraArgs=extra_args or None, Config=config)
    except BaseException as exc:
        _abort_after_failure(cleanup_client() if cleanup_client else client, bucket, key)
        if isinstance(exc, BackupError):
            raise
        if not isinstance(exc, Exception):
            raise
        raise BackupTargetError(
            f"upload to s3://{bucket}/{key} failed after {reader.size} bytes: {_describe(exc)}. "
            "The multipart upload was aborted: no object was written at that key. "
            "Fix: check the S3 endpoint and the "
            "AWS connection, then re-run the task (re-running a date rewrites its own backup)."
        ) from exc
    return UploadResult(reader.size, reader.sha256)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


def _abort_after_failure(client: Any, bucket: str, key: str) -> None:
    try:
        abort_dangling_uploads(client, bucket, key)
    except Exception as exc:
        # The endpoint may be down; the next run aborts leftovers of its key before uploading.
        log.warning(
            "Could not list/abort multipart uploads of s3://%s/%s (%s); the next run of this date "
            "aborts them, or configure a bucket lifecycle rule AbortIncompleteMultipartUpload.",
            bucket,
            key,
            _describe(exc),
        )


def iter_object(client: Any, bucket: str, key: str, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_bytes)
    finally:
        body.close()


def put_bytes(
    client: Any, bucket: str, key: str, data: bytes, content_type: str, sse: dict[str, str]
) -> None:
    """A sidecar next to a dump: uploaded and confirmed (``airflow_ops.storage.put_confirmed``)."""
    put_confirmed(client, bucket, key, data, content_type, sse)
