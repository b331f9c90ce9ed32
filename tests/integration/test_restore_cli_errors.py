"""Issue 14 item 10: `airflow-ops restore-backup --list` against a real S3 API (moto server over HTTP)
names a missing bucket in one line, exit 2."""

from __future__ import annotations

import pytest

from airflow_ops_tools import restore_backup
from tests.harness import MotoServer

pytestmark = pytest.mark.integration


def test_a_missing_bucket_is_one_line_exit_2(
    s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code = restore_backup.main(
        ["--list", "--endpoint-url", s3_server.endpoint_url, "--bucket", "no-such-bucket"]
    )
    out = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out.err and out.out == ""
    [line] = out.err.strip().splitlines()
    assert line.startswith("error: bucket 'no-such-bucket' does not exist at " + s3_server.endpoint_url)
    assert "pass --bucket" in line


def test_an_existing_empty_bucket_still_lists(
    s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    args = ["--list", "--endpoint-url", s3_server.endpoint_url, "--prefix", "airflow-ops-empty-prefix"]
    assert restore_backup.main(args) == 0
    assert "0 backup(s) under s3://airflow-ops-backups/airflow-ops-empty-prefix/" in capsys.readouterr().out
