"""The one S3 layer: confirmed uploads, listing, batched deletes, server-side encryption arguments.

Every helper takes a boto3 S3 client (from ``S3Hook(...).get_conn()`` in tasks, plain boto3 in the
CLIs), so the domain packages stay Airflow-free. Failures raise :class:`StorageError`, whose message
names the bucket and key and says what to check; domain errors that add context subclass it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from airflow_ops.exceptions import AirflowOpsError

log = logging.getLogger(__name__)

#: S3's limit on keys per DeleteObjects request.
DELETE_BATCH = 1000

#: botocore's retry policy for every client the bundle builds (tasks and CLIs), set here and only
#: here: "standard" mode retries throttling (503 SlowDown), 500/502/504 and connection errors
#: (reset mid-part, read timeouts) with exponential backoff and jitter, up to ``total_max_attempts``
#: calls in all. An AWS connection's ``config_kwargs.retries`` overrides it. Chosen, not defaulted:
#: botocore's default "legacy" mode makes 5 attempts without throttling-aware backoff; 8 standard
#: attempts wait up to ~71 s (rand x min(2^i, 20) s) through a SlowDown storm per call, and resets
#: back off from 50 ms. docs/deployment/s3-stores.md says why.
RETRIES: dict[str, Any] = {"mode": "standard", "total_max_attempts": 8}

#: The botocore options that make a client send and check payload checksums only where the
#: operation requires them. Stores that do not understand botocore's default aws-chunked request
#: bodies (sent over HTTPS since botocore 1.36) need them: set them in the AWS connection's extra
#: ``config_kwargs`` (tasks) or pass ``--checksum-when-required`` (the restore CLIs).
CHECKSUMS_WHEN_REQUIRED: dict[str, str] = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}

_warned: set[tuple[str, str]] = set()


def warn_once(what: str, where: str, message: str, *args: Any) -> None:
    """Log ``message`` once per process for each (what, where): a store's missing feature, say."""
    if (what, where) in _warned:
        return
    _warned.add((what, where))
    log.warning(message, *args)


def client_config(overrides: Any = None, checksum_when_required: bool = False) -> Any:
    """The botocore ``Config`` for a bundle client: :data:`RETRIES`, then ``overrides`` on top.

    ``overrides`` is a ``botocore.config.Config`` (what ``S3Hook`` built from the connection's
    ``config_kwargs``) or a mapping of the same keywords; what it sets explicitly wins.
    """
    from botocore.config import Config

    config = Config(retries=dict(RETRIES))
    if checksum_when_required:
        config = config.merge(Config(**CHECKSUMS_WHEN_REQUIRED))
    if isinstance(overrides, Mapping):
        overrides = Config(**overrides)
    if overrides is not None:
        config = config.merge(overrides)
    return config


def plain_client(
    endpoint_url: str | None = None, region: str | None = None, checksum_when_required: bool = False
) -> Any:
    """A boto3 S3 client for the CLIs: the usual AWS environment, the bundle's retries.

    botocore's own ``AWS_REQUEST_CHECKSUM_CALCULATION`` / ``AWS_RESPONSE_CHECKSUM_VALIDATION``
    environment variables are honoured too; ``checksum_when_required`` sets both in code.
    """
    import boto3

    # A session of its own: boto3's default session keeps the first credentials it resolved for the
    # life of the process, so a later change of the AWS environment would go unseen.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        config=client_config(checksum_when_required=checksum_when_required),
    )


def error_code(exc: BaseException) -> str:
    """A botocore error's code (``NotImplemented``, ``MethodNotAllowed``, ``500``...), else ``""``."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        return str(
            resp.get("Error", {}).get("Code", "")
            or resp.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
    return ""


def http_status(exc: BaseException) -> int:
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        return int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 0


def endpoint_of(client: Any) -> str:
    meta = getattr(client, "meta", None)
    return str(getattr(meta, "endpoint_url", "") or "s3")


class StorageError(AirflowOpsError):
    """An S3 call failed or an upload could not be confirmed."""


def aws_reason(exc: BaseException) -> str:
    """A botocore error as one line: its code and message, else the exception's own text."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and "Error" in resp:
        err = resp["Error"]
        return f"{err.get('Code')}: {err.get('Message')}"
    return " ".join(f"{type(exc).__name__}: {exc}".split())


#: Error codes botocore's standard mode retries (throttling and transient server errors).
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeoutException",
    "PriorRequestNotComplete", "429", "500", "502", "503", "504",
}  # fmt: skip


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (boto3's S3UploadFailedError wraps the ClientError)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is what retries are for: throttling, a 5xx, a reset or timed-out connection."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    for cause in _causes(exc):
        if isinstance(cause, (BotoConnectionError, HTTPClientError)):
            return True
        if http_status(cause) in (429, 500, 502, 503, 504) or error_code(cause) in _TRANSIENT_CODES:
            return True
    return False


def fix_for(exc: BaseException, otherwise: str) -> str:
    """The fix to name for a failed call: ``otherwise`` unless the store was failing transiently,
    in which case retrying was already done (:data:`RETRIES`) and more of it is the fix."""
    if not transient(exc):
        return otherwise
    return (
        f"the store kept failing through {attempts(exc)} (throttling, 5xx or connection resets; "
        "retry policy airflow_ops.storage.RETRIES): re-run when it has recovered, or give the AWS "
        "connection more attempts (extra config_kwargs retries.total_max_attempts)"
    )


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
            f"upload to s3://{bucket}/{key} failed: {aws_reason(exc)} (fix: "
            + fix_for(exc, "check the bucket exists and the AWS connection may write to it")
            + ")"
        ) from exc
    confirm(client, bucket, key, len(data), digest)
    return digest


@dataclass
class UploadTracker:
    """Records the upload ids of the multipart uploads ``client`` creates while it is registered,
    with the store's ``Date`` of each creation (``began``: the server's clock, not ours)."""

    client: Any
    upload_ids: list[str] = field(default_factory=list)
    began: dict[str, str] = field(default_factory=dict)
    _uid: str = field(default_factory=lambda: f"airflow-ops-{uuid.uuid4().hex}")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> UploadTracker:
        self.client.meta.events.register(
            "after-call.s3.CreateMultipartUpload", self._created, unique_id=self._uid
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("after-call.s3.CreateMultipartUpload", unique_id=self._uid)

    def _created(self, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        upload_id = (parsed or {}).get("UploadId")
        if upload_id:
            date = (parsed or {}).get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
            with self._lock:
                self.upload_ids.append(str(upload_id))
                if date:
                    self.began[str(upload_id)] = str(date)

    def completed_unanswered(self, bucket: str, key: str, size: int) -> bool:
        """Whether the last upload completed although the call failed: the store took
        CompleteMultipartUpload but the answer was lost, and botocore's retry of it failed (moto and
        S3 answer a repeated completion 200; s3rver answers 500, another store NoSuchUpload). True
        only when an object of exactly ``size`` bytes sits at ``key``, created since that upload
        began by the store's clock (S3 dates a multipart object from its creation; 1 s of slack for
        the second-resolution dates)."""
        import datetime as dt
        import email.utils

        if not self.upload_ids:
            return False
        began = self.began.get(self.upload_ids[-1])
        if began is None:
            return False
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
            since = email.utils.parsedate_to_datetime(began) - dt.timedelta(seconds=1)
            return int(head["ContentLength"]) == size and bool(head["LastModified"] >= since)
        except Exception:
            return False


def upload_file_confirmed(
    client: Any, bucket: str, key: str, path: str | os.PathLike[str], sse: dict[str, str] | None = None
) -> int:
    """Upload a local file with the transfer manager, then confirm its size; return the size.

    A file above the transfer manager's threshold goes up in parts: when that fails, every multipart
    upload it created is aborted (the transfer manager tries too, but its abort can fail in the same
    outage), and one that cannot be aborted is named in the error.
    """
    size = os.path.getsize(path)
    tracker = UploadTracker(client)
    try:
        with tracker:
            client.upload_file(str(path), bucket, key, ExtraArgs=sse or None)
    except Exception as exc:
        left = abort_uploads(client, bucket, key, tracker.upload_ids)
        raise StorageError(
            f"upload to s3://{bucket}/{key} failed: {aws_reason(exc)}; "
            + (left or "no object was written at that key")
            + " (fix: "
            + fix_for(exc, "check the bucket exists and the AWS connection may write to it")
            + ")"
        ) from exc
    confirm(client, bucket, key, size)
    return size


def upload_fileobj_confirmed(
    client: Any, bucket: str, key: str, fh: IO[bytes], sse: dict[str, str] | None = None
) -> int:
    """Upload a seekable file object from its start (multipart when large), then confirm its size.

    For temporary files opened without a name (``tempfile.TemporaryFile``): a task killed mid-way
    leaves nothing on disk, where a named file would stay behind.
    """
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    try:
        client.upload_fileobj(fh, bucket, key, ExtraArgs=sse or None)
    except Exception as exc:
        raise StorageError(
            f"upload to s3://{bucket}/{key} failed: {aws_reason(exc)} (check the bucket exists and the AWS "
            "connection may write to it)"
        ) from exc
    confirm(client, bucket, key, size)
    return size


def abort_each(client: Any, bucket: str, key: str, upload_ids: list[str]) -> dict[str, Exception]:
    """Abort these multipart uploads of ``key``; return upload id -> error for those still there
    (an upload already gone, NoSuchUpload, counts as aborted)."""
    left: dict[str, Exception] = {}
    for upload_id in upload_ids:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as exc:
            if error_code(exc) in ("NoSuchUpload", "404") or http_status(exc) == 404:
                continue
            left[upload_id] = exc
    return left


def abort_uploads(client: Any, bucket: str, key: str, upload_ids: list[str]) -> str:
    """Abort these multipart uploads of ``key`` (already gone counts as aborted); ``""`` when none is
    left, else one sentence naming what is left and how to remove it."""
    left = [
        (upload_id, aws_reason(exc)) for upload_id, exc in abort_each(client, bucket, key, upload_ids).items()
    ]
    if not left:
        return ""
    upload_id, reason = left[0]
    return (
        f"no object was written at that key, but its incomplete multipart upload {upload_id} could not be "
        f"aborted ({reason}){f' (and {len(left) - 1} more)' if len(left) > 1 else ''}: remove it with "
        f"`aws s3api abort-multipart-upload --bucket {bucket} --key {key} --upload-id {upload_id}` or a "
        "bucket lifecycle rule AbortIncompleteMultipartUpload"
    )


def read_bytes(client: Any, bucket: str, key: str) -> bytes:
    try:
        body: BinaryIO = client.get_object(Bucket=bucket, Key=key)["Body"]
        return body.read()
    except Exception as exc:
        raise StorageError(f"cannot read s3://{bucket}/{key}: {aws_reason(exc)}") from exc


def read_confirmed(client: Any, bucket: str, key: str) -> bytes:
    """GET ``key`` and check its body against the sha256 :func:`put_confirmed` stored with it.

    An object without that metadata (written by something else) is returned as it is.
    """
    data = _read_checked(client, bucket, key, missing_ok=False)
    assert data is not None
    return data


def _read_checked(client: Any, bucket: str, key: str, missing_ok: bool) -> bytes | None:
    try:
        obj = client.get_object(Bucket=bucket, Key=key)
        data: bytes = obj["Body"].read()
    except Exception as exc:
        missing = getattr(getattr(client, "exceptions", None), "NoSuchKey", None)
        if missing_ok and missing is not None and isinstance(exc, missing):
            return None
        raise StorageError(f"cannot read s3://{bucket}/{key}: {aws_reason(exc)}") from exc
    want = (obj.get("Metadata") or {}).get("sha256")
    if want is not None and hashlib.sha256(data).hexdigest() != want:
        raise StorageError(
            f"s3://{bucket}/{key} is corrupt: its {len(data)} bytes do not match the sha256 stored at upload "
            "(a store that saved botocore's aws-chunked body as data does this: set the AWS connection's "
            "config_kwargs request_checksum_calculation/response_checksum_validation to when_required, "
            "then re-run the step that wrote it)"
        )
    return data


def read_json(client: Any, bucket: str, key: str, missing_ok: bool = False) -> Any:
    """:func:`read_confirmed`, parsed as JSON; anything unreadable is a one-line :class:`StorageError`.

    With ``missing_ok`` a key that does not exist gives ``None``.
    """
    data = _read_checked(client, bucket, key, missing_ok)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StorageError(
            f"s3://{bucket}/{key} is not valid JSON ({len(data)} bytes, unreadable from byte "
            f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))}): the object is corrupt; re-run the step "
            "that wrote it"
        ) from exc


#: Errors after which a ListObjectsV2 listing is retried with ListObjects (v1, marker paging).
_V2_UNSUPPORTED = {"NotImplemented", "InternalError", "500", "501"}
#: Endpoints (in this process) whose ListObjectsV2 failed that way: listed with v1 directly.
_V1_ONLY: set[str] = set()


class _UseV1(Exception):
    pass


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (all pages), as ``list_objects_v2`` describes it.

    A store whose ListObjectsV2 fails on a later page (s3rver cannot make continuation tokens on
    Node.js 17+) or does not implement it is listed again with ListObjects v1 from the last key
    seen, so a listing over 1,000 keys is complete on both.
    """
    last: str | None = None
    endpoint = endpoint_of(client)
    try:
        if endpoint in _V1_ONLY:
            raise _UseV1
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                last = obj["Key"]
                yield obj
        return
    except _UseV1:
        pass
    except Exception as exc:
        if error_code(exc) not in _V2_UNSUPPORTED and http_status(exc) not in (500, 501):
            raise StorageError(f"cannot list s3://{bucket}/{prefix}: {aws_reason(exc)}") from exc
        # Past botocore's retries: this endpoint's ListObjectsV2 is broken; use v1 from now on.
        _V1_ONLY.add(endpoint)
        warn_once(
            "ListObjectsV2",
            endpoint_of(client),
            "ListObjectsV2 failed on %s (%s); listing with ListObjects (v1) instead",
            endpoint_of(client),
            aws_reason(exc),
        )
    paging = {"StartingToken": last} if last is not None else {}
    try:
        for page in client.get_paginator("list_objects").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig=paging
        ):
            yield from page.get("Contents", [])
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
                f"deleting in s3://{bucket} failed after {attempts(exc)}: {aws_reason(exc)}; {len(left)} "
                f"key(s) left: {_some(left)} (fix: grant s3:DeleteObject or wait for the store to recover, "
                "then re-run)"
            ) from exc
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            failed = [str(e.get("Key")) for e in errors]
            later = doomed[start + len(batch) :]
            raise StorageError(
                f"could not delete {len(errors)} object(s) in s3://{bucket}/ ({first.get('Code')}): "
                f"{_some(failed)}"
                + (f"; {len(later)} more key(s) not attempted: {_some(later)}" if later else "")
                + "; fix: grant s3:DeleteObject, then re-run"
            )
        deleted += len(batch)
    return deleted


def _some(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def attempts(exc: BaseException) -> str:
    """How many attempts a failed call made (``8 attempt(s)``), as far as botocore says."""
    for cause in _causes(exc):
        resp = getattr(cause, "response", None)
        tried = resp.get("ResponseMetadata", {}).get("RetryAttempts") if isinstance(resp, dict) else None
        if tried is not None:
            return f"{int(tried) + 1} attempt(s)"
    return "botocore's retries"


#: Answers of a store that does not offer an operation at all (as opposed to refusing this caller).
UNSUPPORTED_CODES = frozenset({"NotImplemented", "MethodNotAllowed", "501", "405"})


def unsupported(exc: BaseException) -> bool:
    """Whether ``exc`` says the store does not implement the operation (s3rver: 501, 405)."""
    return error_code(exc) in UNSUPPORTED_CODES or http_status(exc) in (405, 501)


def abort_incomplete_uploads(
    client: Any, bucket: str, prefix: str, wanted: Callable[[str], bool] = lambda key: True
) -> list[str]:
    """Abort every incomplete multipart upload under ``prefix`` whose key is ``wanted``.

    A task process killed mid-upload (SIGKILL, OOM, a lost worker) cannot abort its own upload:
    the next attempt calls this before uploading, so its parts do not stay in the bucket for ever.
    Returns the keys aborted. A store without ListMultipartUploads (s3rver answers 501) gets a
    warning once and nothing is aborted; other errors raise :class:`StorageError`.
    """
    aborted: list[str] = []
    try:
        pages = list(client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix))
    except Exception as exc:
        if not unsupported(exc):
            raise StorageError(
                f"cannot list incomplete multipart uploads under s3://{bucket}/{prefix}: {aws_reason(exc)} "
                "(check the bucket exists and the AWS connection may list and abort uploads in it)"
            ) from exc
        warn_once(
            "ListMultipartUploads",
            endpoint_of(client),
            "%s does not implement ListMultipartUploads (%s): leftovers of crashed uploads cannot be "
            "found and aborted; each backup or archive aborts its own upload on failure. Add a bucket "
            "lifecycle rule AbortIncompleteMultipartUpload where the store supports one.",
            endpoint_of(client),
            aws_reason(exc),
        )
        return aborted
    for page in pages:
        for upload in page.get("Uploads", []):
            key = str(upload["Key"])
            if not key.startswith(prefix) or not wanted(key):  # a store may ignore Prefix
                continue
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            except Exception as exc:
                if error_code(exc) not in ("NoSuchUpload", "404") and http_status(exc) != 404:
                    raise StorageError(
                        f"cannot abort the incomplete multipart upload {upload['UploadId']} of "
                        f"s3://{bucket}/{key}: {aws_reason(exc)}; remove it with `aws s3api "
                        f"abort-multipart-upload` or a lifecycle rule AbortIncompleteMultipartUpload"
                    ) from exc
            aborted.append(key)
    if aborted:
        log.warning(
            "Aborted %d incomplete multipart upload(s) left by an earlier attempt under s3://%s/%s: %s",
            len(aborted),
            bucket,
            prefix,
            _some(aborted),
        )
    return aborted
