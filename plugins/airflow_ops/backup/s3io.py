"""S3 plumbing for backups: streaming multipart upload with sha256 on the fly, and clean aborts.

The upload reads a non-seekable stream (the pg_dump pipe) through boto3's transfer manager.
Memory is bounded by ``chunk_bytes * (concurrency + 1)`` whatever the size of the database. The
object only appears at its key when ``CompleteMultipartUpload`` succeeds; every failure path
aborts the multipart upload it started (its upload id is recorded as it is created), so nothing
incomplete is left behind, and a store that refuses the abort gets a message naming what is left.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from airflow_ops.backup.errors import BackupError, BackupTargetError
from airflow_ops.storage import (
    StorageError,
    UploadTracker,
    abort_each,
    abort_incomplete_uploads,
    aws_reason,
    confirm,
    fix_for,
    http_status,
    put_confirmed,
    transient,
)

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
    def at_eof(self) -> bool:
        """Whether the whole stream was read (and ``on_eof`` passed)."""
        return self._eof

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
        if transient(exc):
            raise BackupTargetError(
                f"cannot access bucket {bucket!r}: S3 answered {http_status(exc) or code} "
                f"({aws_reason(exc)}) to HeadBucket; nothing was dumped. Fix: {fix_for(exc, '')}."
            ) from None
        raise BackupTargetError(
            f"cannot access bucket {bucket!r}: {code or exc}. Fix: grant the AWS connection's identity "
            "s3:ListBucket, s3:PutObject, s3:GetObject, s3:DeleteObject, s3:AbortMultipartUpload on it."
        ) from None
    except BotoCoreError as exc:
        raise BackupTargetError(
            f"cannot reach S3 for bucket {bucket!r}: {aws_reason(exc)}; nothing was dumped. Fix: "
            + fix_for(exc, "check the AWS connection's endpoint/region")
            + "."
        ) from None


def abort_dangling_uploads(client: Any, bucket: str, key: str, prefix: str | None = None) -> int:
    """Abort every incomplete multipart upload of ``key``; return how many were aborted.

    With ``prefix`` (the backups' root), the leftovers of every dump key under it are aborted too:
    a backup whose task process was killed mid-upload on another date (its retries used up, the
    date never re-run) would otherwise leave its parts in the bucket for ever. One backup DAG owns a
    prefix (the generator refuses two) and runs one at a time, so nothing under it is in flight.

    A store without ListMultipartUploads (s3rver answers 501) cannot be asked for leftovers: the
    backup goes ahead (warned once per process and endpoint) and relies on aborting its own upload
    on failure. Other errors (permissions, endpoint down) still fail the backup.
    """
    from airflow_ops.backup.layout import DUMP_NAME

    root = f"{prefix.strip('/')}/" if prefix else key

    def wanted(found: str) -> bool:
        return found == key or (prefix is not None and found.endswith("/" + DUMP_NAME))

    return len(abort_incomplete_uploads(client, bucket, root, wanted))


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
    tracker = UploadTracker(client)
    try:
        with tracker:
            client.upload_fileobj(reader, bucket, key, ExtraArgs=extra_args or None, Config=config)
    except BaseException as exc:
        if (
            isinstance(exc, BackupError)
            or not isinstance(exc, Exception)
            or not reader.at_eof
            or not tracker.completed_unanswered(bucket, key, reader.size)
        ):
            _failed(exc, client, bucket, key, reader, tracker, cleanup_client)
        # The store completed the upload; only its answer was lost. The HEAD below confirms the
        # size, and verify checks the sha256 computed on the way before anything trusts the dump.
        log.warning(
            "CompleteMultipartUpload of s3://%s/%s failed (%s) but the object it completes is there "
            "(%d bytes, created by this upload): the answer was lost, not the upload",
            bucket,
            key,
            aws_reason(exc),
            reader.size,
        )
    _confirm_dump(client, bucket, key, reader.size)
    return UploadResult(reader.size, reader.sha256)


def _failed(
    exc: BaseException,
    client: Any,
    bucket: str,
    key: str,
    reader: HashingReader,
    tracker: UploadTracker,
    cleanup_client: Callable[[], Any] | None,
) -> NoReturn:
    """Abort what this upload left, then raise one line naming what failed and what is left."""
    left = _abort_after_failure(
        cleanup_client() if cleanup_client else client, bucket, key, tracker.upload_ids
    )
    if isinstance(exc, BackupError):
        if left:
            raise type(exc)(f"{exc} {_left_behind(bucket, key, left)}") from exc
        raise exc
    if not isinstance(exc, Exception):
        raise exc
    raise BackupTargetError(
        f"upload to s3://{bucket}/{key} failed after {reader.size} bytes: {_describe(exc)}. "
        + (_left_behind(bucket, key, left) if left else _ABORTED)
        + " Fix: "
        + fix_for(exc, "check the S3 endpoint and the AWS connection")
        + ", then re-run the task (re-running a date rewrites its own backup)."
    ) from exc


_ABORTED = "The multipart upload was aborted: no object was written at that key."


def _left_behind(bucket: str, key: str, left: dict[str, tuple[bool, str]]) -> str:
    upload_id, (refused, reason) = next(iter(left.items()))
    more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
    if refused:
        what = (
            f"the store refused to abort the multipart upload ({reason}): its parts are left in bucket "
            f"{bucket!r} as incomplete upload {upload_id}{more}."
        )
    else:
        what = (
            f"the multipart upload could not be aborted ({reason}): unless the store lost it, its parts are "
            f"left in bucket {bucket!r} as incomplete upload {upload_id}{more}; the next run of this date "
            "aborts it where the store lists multipart uploads."
        )
    return (
        f"No object was written at that key, but {what} Remove them with `aws s3api abort-multipart-upload "
        f"--bucket {bucket} --key {key} --upload-id {upload_id}`, a bucket lifecycle rule "
        "AbortIncompleteMultipartUpload, or, on a store that offers neither, its own cleanup of incomplete "
        "uploads."
    )


def _confirm_dump(client: Any, bucket: str, key: str, size: int) -> None:
    """HEAD the completed dump: a store that saved another body (aws-chunked framing) is caught here."""
    try:
        confirm(client, bucket, key, size)
    except StorageError as exc:
        try:
            client.delete_object(Bucket=bucket, Key=key)
            removed = "The object was deleted."
        except Exception as delete_exc:
            removed = f"Deleting it failed too ({aws_reason(delete_exc)}): delete it by hand."
        if exc.__cause__ is not None:  # the HEAD itself failed: nothing says the body is wrong
            raise BackupTargetError(
                f"{exc}. {removed} Fix: "
                + fix_for(exc.__cause__, "let the AWS connection read what it writes (s3:GetObject)")
                + ", then re-run."
            ) from None
        raise BackupTargetError(
            f"{exc}. {removed} Fix: when the store does not understand botocore's checksummed "
            "(aws-chunked) uploads, set the AWS connection's extra config_kwargs "
            '{"request_checksum_calculation": "when_required", "response_checksum_validation": '
            '"when_required"}, then re-run.'
        ) from None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


def _abort_after_failure(
    client: Any, bucket: str, key: str, upload_ids: list[str]
) -> dict[str, tuple[bool, str]]:
    """Abort the uploads this attempt created, then any other leftover of ``key``.

    Returns upload id -> (the store answered and refused, reason) for each upload that could not
    be aborted. The transfer manager usually aborts its own upload already; aborting it again
    answers NoSuchUpload, which counts as aborted.
    """
    left: dict[str, tuple[bool, str]] = {}
    for upload_id, exc in abort_each(client, bucket, key, upload_ids).items():
        answered = http_status(exc) > 0
        left[upload_id] = (
            answered,
            f"AbortMultipartUpload: {aws_reason(exc) if answered else _describe(exc)}",
        )
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
    return left


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
