"""Pins against a real S3 API (moto server over HTTP): the restore CLI pins and unpins, retention
never deletes a pinned backup, and its result lists the pins (issue 14, item 7)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from airflow_ops.backup.catalog import list_backups
from airflow_ops.backup.layout import BackupLocation, stamp
from airflow_ops.backup.retention import RetentionPolicy, apply_retention
from airflow_ops_tools import restore_backup
from tests.harness import MotoServer
from tests.integration.backup_helpers import BUCKET

END = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


@pytest.fixture
def history(s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    prefix = f"pins-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    stamps = []
    for back in range(9, -1, -1):
        loc = BackupLocation(BUCKET, prefix, END - dt.timedelta(days=back))
        for key in (loc.dump_key, loc.manifest_key, loc.verified_key):
            client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        stamps.append(stamp(loc.when))
    return prefix, stamps


def _cli(s3: MotoServer, prefix: str, *args: str) -> int:
    return restore_backup.main(
        ["--endpoint-url", s3.endpoint_url, "--bucket", BUCKET, "--prefix", prefix, *args]
    )


def test_a_pinned_backup_survives_retention_until_unpinned(
    s3_server: MotoServer, history: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    prefix, stamps = history
    client = s3_server.client()
    oldest = stamps[0]
    assert _cli(s3_server, prefix, "--pin", oldest, "--reason", "before the 3.3 upgrade") == 0
    out = capsys.readouterr().out
    assert f"pinned      s3://{BUCKET}/{prefix}/{oldest}/ {oldest} (before the 3.3 upgrade, by " in out

    assert _cli(s3_server, prefix, "--list") == 0
    listing = capsys.readouterr().out
    [row] = [line for line in listing.splitlines() if line.startswith(oldest)]
    assert "before the 3.3 upgrade" in row

    policy = RetentionPolicy(daily=1, weekly=0, monthly=0)
    result = apply_retention(client, BUCKET, prefix, policy)
    left = [b.folder.rsplit("/", 1)[-1] for b in list_backups(client, BUCKET, prefix)]
    assert left == [oldest, stamps[-1]]
    assert [p["reason"] for p in result.pinned] == ["before the 3.3 upgrade"]
    assert result.pinned[0]["folder"] == f"{prefix}/{oldest}"

    assert _cli(s3_server, prefix, "--unpin", oldest) == 0
    assert f"unpinned    {oldest}: retention applies to it again" in capsys.readouterr().out
    result = apply_retention(client, BUCKET, prefix, policy)
    assert result.pinned == [] and result.expired == [f"{prefix}/{oldest}"]
    assert [b.folder.rsplit("/", 1)[-1] for b in list_backups(client, BUCKET, prefix)] == [stamps[-1]]


def test_pin_refuses_a_missing_backup_or_a_missing_reason(
    s3_server: MotoServer, history: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    prefix, _ = history
    assert _cli(s3_server, prefix, "--pin", "2020-01-01T000000Z", "--reason", "x") == 1
    assert "no backup at s3://" in capsys.readouterr().err
    assert _cli(s3_server, prefix, "--pin", "latest", "--reason", "x") == 1
    assert "is not a backup name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _cli(s3_server, prefix, "--pin", "2020-01-01T000000Z")
    assert exc.value.code == 2
    assert "--pin needs --reason" in capsys.readouterr().err
