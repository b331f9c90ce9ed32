"""Fault tests: every failure leaves no object at the final key and no incomplete upload."""

from __future__ import annotations

import stat
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from botocore.config import Config

from airflow_ops.backup.dump import run_backup
from airflow_ops.backup.errors import BackupSourceError, BackupTargetError, PgToolVersionError
from airflow_ops.connections import PostgresTarget
from tests.harness import MotoServer, PostgresServer
from tests.integration.backup_helpers import (
    BUCKET,
    CHUNK,
    backup_killed_mid_dump,
    fill,
    keys,
    open_uploads,
    request,
)


def _prefix() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


def test_killing_the_s3_endpoint_mid_upload_fails_clearly_and_leaves_nothing(
    pg_server: PostgresServer, scratch_db: str
) -> None:
    fill(pg_server, scratch_db, 400_000, width_md5=2)
    moto = MotoServer().start()  # its own server: this test kills it
    try:
        client = moto.client()
        client.create_bucket(Bucket=BUCKET)
        prefix = _prefix()

        def kill_after_first_part(done: int) -> None:
            if done > CHUNK and moto.proc is not None and moto.proc.poll() is None:
                moto.proc.kill()
                moto.proc.wait()

        req = request(
            pg_server,
            scratch_db,
            prefix,
            chunk_bytes=CHUNK,
            concurrency=1,
            progress=kill_after_first_part,
            compression="none",
        )
        with pytest.raises(BackupTargetError, match=r"upload to s3://airflow-ops-backups/.*failed.*aborted"):
            run_backup(_no_retry_client(moto), req)
        assert not _pg_dump_running(pg_server, scratch_db)
        restarted = MotoServer(port=moto.port).start()
        moto = restarted
        client = moto.client()
        client.create_bucket(Bucket=BUCKET)
        assert keys(client, BUCKET, prefix) == []
        assert open_uploads(client, BUCKET, prefix) == []
    finally:
        moto.stop()


def _no_retry_client(moto: MotoServer) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def _pg_dump_running(pg: PostgresServer, dbname: str) -> bool:
    """Whether a backup pg_dump is still connected to ``dbname`` (waits a little for it to go)."""
    deadline = time.monotonic() + 10
    while True:
        conn = psycopg2.connect(pg.admin_url)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'airflow-ops-pg_dump'"
                " AND datname = %s",
                (dbname,),
            )
            running = bool(cur.fetchone()[0])
        conn.close()
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.2)


def test_pg_dump_dying_after_parts_were_uploaded_aborts_the_upload(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    client = s3_server.client()
    prefix = _prefix()
    backup_killed_mid_dump(pg_server, scratch_db, client, prefix)
    assert keys(client, BUCKET, prefix) == []
    assert open_uploads(client, BUCKET, prefix) == []


def test_wrong_credentials_fail_naming_the_connection_and_upload_nothing(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    # The local server trusts 127.0.0.1, so a wrong password is accepted there: an unknown role is
    # the credential failure this server can produce.
    client = s3_server.client()
    prefix = _prefix()
    req = request(pg_server, scratch_db, prefix)
    req.source = PostgresTarget("127.0.0.1", req.source.port, "no_such_role", scratch_db, password="wrong")
    with pytest.raises(BackupSourceError, match=r"connection 'airflow_metadata_db'.*no_such_role") as info:
        run_backup(client, req)
    assert "wrong" not in str(info.value)
    assert keys(client, BUCKET, prefix) == []
    assert open_uploads(client, BUCKET, prefix) == []


def _fake_old_pg_dump(tmp_path: Path) -> str:
    """A pg_dump that reports PostgreSQL 13 (the only version older than the server we can provide)."""
    bindir = tmp_path / "pg13" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "pg_dump"
    exe.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.16'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(tmp_path / "pg*" / "bin")


def test_pg_dump_older_than_the_server_fails_naming_both_versions(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer, tmp_path: Path
) -> None:
    client = s3_server.client()
    prefix = _prefix()
    req = request(pg_server, scratch_db, prefix, pg_bin_dirs=[_fake_old_pg_dump(tmp_path)])
    with pytest.raises(PgToolVersionError, match=r"PostgreSQL 15 or newer.*\(13\.16\).*postgresql-client-15"):
        run_backup(client, req)
    assert keys(client, BUCKET, prefix) == []


def test_a_matching_pg_dump_is_chosen_among_several(tmp_path: Path) -> None:
    from airflow_ops.backup.pgtools import select_tool

    old = _fake_old_pg_dump(tmp_path)
    tool = select_tool("pg_dump", 15, [old, "/usr/lib/postgresql/*/bin"])
    assert (tool.major, tool.path) == (15, "/usr/lib/postgresql/15/bin/pg_dump")


def test_missing_bucket_fails_naming_the_bucket_before_dumping(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    req = request(pg_server, scratch_db, _prefix())
    req.location = type(req.location)("no-such-backup-bucket", req.location.prefix, req.location.when)
    with pytest.raises(BackupTargetError, match="bucket 'no-such-backup-bucket' does not exist"):
        run_backup(s3_server.client(), req)
    assert not _pg_dump_running(pg_server, scratch_db)


def test_leftover_uploads_of_the_same_date_are_aborted_by_the_next_run(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    fill(pg_server, scratch_db, 100)
    client = s3_server.client()
    req = request(pg_server, scratch_db, _prefix())
    client.create_multipart_upload(Bucket=BUCKET, Key=req.location.dump_key)  # a crashed earlier attempt
    run_backup(client, req)
    assert open_uploads(client, BUCKET, req.location.folder) == []
