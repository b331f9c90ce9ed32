"""Which S3 failures are transient (retries were the cure and ran out) and the fix each names."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, ConnectionClosedError

from airflow_ops.storage import RETRIES, attempts, client_config, fix_for, transient


def _client_error(code: str, status: int, retries: int = 7) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
    }
    return ClientError(response, "UploadPart")  # type: ignore[arg-type]


def _wrapped(inner: BaseException) -> S3UploadFailedError:
    """boto3's upload_file wraps the ClientError the way it really does (raised inside except)."""
    try:
        try:
            raise inner
        except ClientError as exc:
            raise S3UploadFailedError(f"Failed to upload x to b/k: {exc}") from None
    except S3UploadFailedError as outer:
        outer.__cause__ = inner
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        _client_error("SlowDown", 503),
        _client_error("503", 503),  # HEAD: no body, the status is the code
        _client_error("InternalError", 500),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
        _wrapped(_client_error("SlowDown", 503)),
    ],
)
def test_throttling_5xx_and_resets_are_transient_and_name_the_retry_budget(exc: BaseException) -> None:
    assert transient(exc)
    fix = fix_for(exc, "grant s3:PutObject")
    assert "grant" not in fix and "total_max_attempts" in fix and "\n" not in fix


@pytest.mark.parametrize(
    "exc", [_client_error("AccessDenied", 403), _client_error("NoSuchBucket", 404), ValueError("x")]
)
def test_other_failures_keep_their_own_fix(exc: BaseException) -> None:
    assert not transient(exc)
    assert fix_for(exc, "grant s3:PutObject") == "grant s3:PutObject"


def test_attempts_reads_botocores_retry_count_through_a_wrapper() -> None:
    assert attempts(_client_error("SlowDown", 503, retries=7)) == "8 attempt(s)"
    assert attempts(_wrapped(_client_error("SlowDown", 503, retries=2))) == "3 attempt(s)"
    assert attempts(ConnectionClosedError(endpoint_url="http://x")) == "botocore's retries"


def test_the_retry_policy_is_standard_mode_with_eight_attempts() -> None:
    assert RETRIES == {"mode": "standard", "total_max_attempts": 8}
    assert client_config().retries == RETRIES
    assert client_config({"retries": {"mode": "adaptive", "total_max_attempts": 3}}).retries == {
        "mode": "adaptive",
        "total_max_attempts": 3,
    }
