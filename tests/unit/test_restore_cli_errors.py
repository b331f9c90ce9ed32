"""Issue 14 item 10: `airflow-ops restore-backup --list` explains an unusable S3 in one line, exit 2."""

from __future__ import annotations

import socket

import pytest

from airflow_ops_tools import restore_backup


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import boto3

    # boto3's default session caches the credentials it found first in this process.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = restore_backup.main(["--list", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and out.out == "", out
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    return code, lines[0]


def test_an_unreachable_endpoint_is_one_line_exit_2(
    aws_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, line = _run(capsys, "--endpoint-url", url)
    assert code == 2
    assert line.startswith(f"error: cannot reach the S3 endpoint {url}: check --endpoint-url")


def test_an_unusable_endpoint_url_is_one_line_exit_2(
    aws_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _run(capsys, "--endpoint-url", "not a url")
    assert code == 2 and "--endpoint-url 'not a url' is not usable" in line


def test_missing_credentials_are_one_line_exit_2(
    aws_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    code, line = _run(capsys, "--endpoint-url", f"http://127.0.0.1:{_closed_port()}")
    assert code == 2 and "no AWS credentials found: set AWS_PROFILE" in line


def test_cli_client_sees_the_current_aws_environment(aws_env: pytest.MonkeyPatch) -> None:
    """One process may restore from two stores in turn (tests do): the second client must not reuse
    the first client's credentials, as boto3's default session does."""
    from airflow_ops.storage import plain_client

    first = plain_client(region="us-east-1")
    aws_env.setenv("AWS_ACCESS_KEY_ID", "second-store")
    second = plain_client(region="us-east-1")
    assert first._request_signer._credentials.access_key == "testing"
    assert second._request_signer._credentials.access_key == "second-store"
