"""Backups in the bucket: idempotent keys, manifests, retention on real objects, restore CLI guards."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest

from airflow_ops.backup.catalog import list_backups
from airflow_ops.backup.dump import run_backup
from airflow_ops.backup.layout import BackupLocation, stamp
from airflow_ops.backup.pointer import mark_verified, read_latest_verified
from airflow_ops.backup.retention import RetentionPolicy, apply_retention
from tests.harness import MotoServer, PostgresServer
from tests.integration.backup_helpers import BUCKET, fill, keys, request

REPO = Path(__file__).resolve().parents[2]


def _prefix() -> str:
    return f"storage-{uuid.uuid4().hex[:8]}"


def test_rerunning_a_date_leaves_one_object_at_the_same_key(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    fill(pg_server, scratch_db, 1000)
    client = s3_server.client()
    req = request(pg_server, scratch_db, _prefix())
    first = run_backup(client, req)
    second = run_backup(client, req)
    dumps = [k for k in keys(client, BUCKET, req.location.prefix) if k.endswith("metadata.dump")]
    assert dumps == [first.key] == [second.key]


def test_manifest_records_checksum_versions_and_row_counts(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    fill(pg_server, scratch_db, 1234)
    client = s3_server.client()
    manifest = run_backup(client, request(pg_server, scratch_db, _prefix(), airflow_version="3.3.2"))
    stored = json.loads(
        client.get_object(Bucket=BUCKET, Key=manifest.key.replace("metadata.dump", "manifest.json"))[
            "Body"
        ].read()
    )
    body = client.get_object(Bucket=BUCKET, Key=manifest.key)["Body"].read()
    import hashlib

    assert stored["sha256"] == hashlib.sha256(body).hexdigest()
    assert stored["size_bytes"] == len(body)
    assert stored["table_row_counts"] == {"public.small": 50, "public.t": 1234}
    assert stored["server_version"].startswith("15.")
    assert stored["pg_dump_version"].startswith("15.")
    assert stored["airflow_version"] == "3.3.2"
    assert stored["duration_seconds"] > 0 and stored["started_at"] < stored["finished_at"]


def _synthetic_history(client: object, prefix: str, days: int) -> list[str]:
    """``days`` verified daily backup folders with tiny objects; returns their stamps, oldest first."""
    end = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    locs = [BackupLocation(BUCKET, prefix, end - dt.timedelta(days=back)) for back in range(days - 1, -1, -1)]
    puts = [key for loc in locs for key in (loc.dump_key, loc.manifest_key, loc.verified_key)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=BUCKET, Key=key, Body=b"x"), puts))  # type: ignore[attr-defined]
    stamps = [stamp(loc.when) for loc in locs]
    return stamps


def test_retention_dry_run_lists_but_deletes_nothing(s3_server: MotoServer) -> None:
    client = s3_server.client()
    prefix = _prefix()
    _synthetic_history(client, prefix, 40)
    before = keys(client, BUCKET, prefix)
    result = apply_retention(client, BUCKET, prefix, RetentionPolicy(7, 4, 6), dry_run=True)
    assert result.expired and result.objects_deleted == 0
    assert keys(client, BUCKET, prefix) == before


def test_retention_deletes_exactly_the_expired_folders_of_a_400_day_history(s3_server: MotoServer) -> None:
    client = s3_server.client()
    prefix = _prefix()
    _synthetic_history(client, prefix, 400)
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/latest-verified.json", Body=b"{}")
    policy = RetentionPolicy(7, 4, 6)
    before = list_backups(client, BUCKET, prefix)
    expired = {b.folder for b in policy.select_expired(before)}
    expected_kept = sorted(b.folder for b in before if b.folder not in expired)
    result = apply_retention(client, BUCKET, prefix, policy)
    remaining = [b.folder for b in list_backups(client, BUCKET, prefix)]
    assert remaining == expected_kept == sorted(result.kept)
    assert len(remaining) == 14  # 7 daily + 2 more weekly + 5 more monthly (tests/unit)
    assert remaining[-1].endswith("2026-11-23T000000Z")  # the newest always survives
    assert f"{prefix}/latest-verified.json" in keys(client, BUCKET, prefix)


def test_pointer_never_moves_back_to_an_older_backfilled_date(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    fill(pg_server, scratch_db, 10)
    client = s3_server.client()
    prefix = _prefix()
    new = run_backup(client, request(pg_server, scratch_db, prefix, dt.datetime(2026, 11, 2, tzinfo=dt.UTC)))
    old = run_backup(client, request(pg_server, scratch_db, prefix, dt.datetime(2026, 10, 1, tzinfo=dt.UTC)))
    assert mark_verified(client, new, prefix, "2026-11-02T00:10:00+00:00", False)
    assert not mark_verified(client, old, prefix, "2026-11-02T00:20:00+00:00", False)
    pointer = read_latest_verified(client, BUCKET, prefix)
    assert pointer is not None and pointer.key == new.key and pointer.sha256 == new.sha256


def _cli(s3: MotoServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "restore_metadata_db.py"),
            "--endpoint-url",
            s3.endpoint_url,
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _verified_backup(pg: PostgresServer, dbname: str, s3: MotoServer, prefix: str) -> None:
    fill(pg, dbname, 500)
    client = s3.client()
    manifest = run_backup(client, request(pg, dbname, prefix))
    mark_verified(client, manifest, prefix, "2026-11-01T00:10:00+00:00", False)


def test_restore_cli_refuses_a_non_empty_database_without_force(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    prefix = _prefix()
    _verified_backup(pg_server, scratch_db, s3_server, prefix)
    out = _cli(s3_server, "--prefix", prefix, "--target-url", pg_server.url_for(scratch_db))
    assert out.returncode == 2
    assert "not empty" in out.stderr and "--force" in out.stderr


def test_restore_cli_dry_run_verifies_and_writes_nothing(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    prefix = _prefix()
    _verified_backup(pg_server, scratch_db, s3_server, prefix)
    target = pg_server.create_database("airflow_ops_restore_target")
    try:
        out = _cli(s3_server, "--prefix", prefix, "--target-url", pg_server.url_for(target), "--dry-run")
        assert out.returncode == 0, out.stderr
        assert "(verified)" in out.stdout and "nothing was written" in out.stdout
        conn = psycopg2.connect(pg_server.url_for(target))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert cur.fetchone()[0] == 0
        conn.close()
    finally:
        pg_server.drop_database(target)


def test_restore_cli_lists_backups_with_their_verification_state(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    prefix = _prefix()
    _verified_backup(pg_server, scratch_db, s3_server, prefix)
    out = _cli(s3_server, "--prefix", prefix, "--list")
    assert out.returncode == 0, out.stderr
    assert "2026-11-01T000000Z" in out.stdout and "yes" in out.stdout


def test_sse_s3_encrypts_the_dump_and_its_manifest(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    fill(pg_server, scratch_db, 10)
    client = s3_server.client()
    manifest = run_backup(client, request(pg_server, scratch_db, _prefix(), sse="AES256"))
    for key in (manifest.key, manifest.key.replace("metadata.dump", "manifest.json")):
        assert client.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"


def test_fernet_key_goes_to_its_own_encrypted_location_and_reports_only_a_fingerprint(
    s3_server: MotoServer,
) -> None:
    from airflow_ops.backup.sidecars import save_fernet_key_s3

    client = s3_server.client()
    secret = "k" * 43 + "="
    status = save_fernet_key_s3(client, secret, "airflow-ops-archive", f"{_prefix()}/fernet-key.json", None)
    key = status.location.removeprefix("s3://airflow-ops-archive/")
    stored = json.loads(client.get_object(Bucket="airflow-ops-archive", Key=key)["Body"].read())
    assert stored["fernet_key"] == secret
    assert client.head_object(Bucket="airflow-ops-archive", Key=key)["ServerSideEncryption"] == "AES256"
    assert secret not in status.as_text() and status.fingerprint in status.as_text()


def test_fernet_key_to_secrets_manager_through_the_aws_connection(
    s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task-side path: config -> AWS connection (endpoint from its extra) -> Secrets Manager."""
    import boto3
    import yaml
    from cryptography.fernet import Fernet

    from airflow_ops.backup.service import save_fernet_key
    from airflow_ops.kinds.metadata_backup.tasks import fernet_target, worker_fernet_key
    from airflow_ops.registry import parse

    raw = yaml.safe_load((REPO / "config" / "ops_metadata_backup.yml").read_text())
    secret_id = f"airflow-ops/fernet-{uuid.uuid4().hex[:8]}"
    raw["fernet_key_backup"] = {
        "type": "secretsmanager",
        "secret_id": secret_id,
        "aws_conn_id": "ops_sm_test",
    }
    cfg = parse(raw, "test")
    monkeypatch.setenv("AIRFLOW_CONN_OPS_SM_TEST", s3_server.aws_conn_uri())
    sm = boto3.client(
        "secretsmanager",
        endpoint_url=s3_server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    for _ in range(2):  # first run creates the secret, a rotated key becomes its new version
        key = Fernet.generate_key().decode()
        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
        status = save_fernet_key(worker_fernet_key(), fernet_target(cfg))  # type: ignore[arg-type]
        assert status.stored and status.location == f"secretsmanager:{secret_id}"
        assert key not in status.as_text()
        assert json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])["fernet_key"] == key
