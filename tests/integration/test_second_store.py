"""The bundle against a second, independent S3 implementation: s3rver (Node.js, objects on disk).

Every incompatibility it showed has a test here, next to the same check on moto where it matters:
ListMultipartUploads missing (501), AbortMultipartUpload refused (405), aws-chunked request bodies
stored as data over HTTPS, ListObjectsV2 failing past 1,000 keys, DeleteObjects answering 500
intermittently. Retries seen are printed (``-s``) and attached to the test report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from airflow_ops import storage
from airflow_ops.backup.catalog import list_backups
from airflow_ops.backup.dump import run_backup
from airflow_ops.backup.errors import BackupTargetError, VerificationError
from airflow_ops.backup.layout import BackupLocation
from airflow_ops.backup.pointer import mark_verified, read_latest_verified
from airflow_ops.backup.retention import RetentionPolicy, apply_retention
from airflow_ops.backup.verify import verify_backup
from airflow_ops.connections import PostgresTarget
from airflow_ops.storage import CHECKSUMS_WHEN_REQUIRED, StorageError, delete_keys, list_objects
from tests.harness import MotoServer, PostgresServer, S3rverServer
from tests.integration.backup_helpers import BUCKET, CHUNK, backup_killed_mid_dump, fill, keys, request

REPO = Path(__file__).resolve().parents[2]


def _prefix() -> str:
    return f"second-{uuid.uuid4().hex[:8]}"


class RetryCounter:
    """Counts botocore's retries on a client (the RetryAttempts of every answered call)."""

    def __init__(self, client: Any) -> None:
        self.retries = 0
        self.calls = 0
        client.meta.events.register("after-call.s3", self._seen)

    def _seen(self, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        self.calls += 1
        self.retries += int((parsed or {}).get("ResponseMetadata", {}).get("RetryAttempts", 0))


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_warned", set())


def _restore_cli(server: S3rverServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_ops_tools.cli", "restore-backup", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **server.aws_env()},
        timeout=300,
        check=False,
    )


def _count(pg: PostgresServer, dbname: str, table: str) -> int:
    conn = psycopg2.connect(pg.url_for(dbname))
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        n = int(cur.fetchone()[0])
    conn.close()
    return n


@pytest.fixture
def target_db(pg_server: PostgresServer) -> Iterator[str]:
    name = pg_server.create_database("airflow_ops_second_store")
    yield name
    pg_server.drop_database(name)


# ----------------------------------------------------------------------------- backup, verify, restore
def test_backup_verify_and_restore_cli_on_s3rver_without_list_multipart_uploads(
    pg_server: PostgresServer,
    scratch_db: str,
    target_db: str,
    s3rver_server: S3rverServer,
    fresh_warnings: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """s3rver answers ListMultipartUploads with 501: backups still run, warned once, and verify."""
    fill(pg_server, scratch_db, 20_000)
    client = s3rver_server.client()
    prefix = _prefix()
    with caplog.at_level(logging.WARNING):
        first = run_backup(client, request(pg_server, scratch_db, prefix, chunk_bytes=CHUNK))
        run_backup(
            client,
            request(
                pg_server, scratch_db, prefix, dt.datetime(2026, 11, 2, tzinfo=dt.UTC), chunk_bytes=CHUNK
            ),
        )
    warned = [r for r in caplog.records if "ListMultipartUploads" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert "aborts its own upload on failure" in warned[0].getMessage()

    out = verify_backup(
        client, first, prefix, ["/usr/lib/postgresql/*/bin"], PostgresTarget(**pg_server.target("postgres"))
    )
    assert out["sha256_ok"] and out["full_restore"].startswith("ok") and out["pointer_moved"]
    pointer = read_latest_verified(client, BUCKET, prefix)
    assert pointer is not None and pointer.key == first.key

    done = _restore_cli(
        s3rver_server, "--prefix", prefix, "--backup", "2026-11-01T000000Z", "--target-url",
        pg_server.url_for(target_db),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "every row count matches" in done.stdout
    assert _count(pg_server, target_db, "t") == 20_000


def test_refused_abort_says_what_is_left_and_how_to_remove_it(
    pg_server: PostgresServer, scratch_db: str, s3rver_server: S3rverServer
) -> None:
    """s3rver answers AbortMultipartUpload with 405: the error must not claim the upload was aborted."""
    client = s3rver_server.client()
    prefix = _prefix()
    req, failed = backup_killed_mid_dump(pg_server, scratch_db, client, prefix)
    text = str(failed)
    assert "exited -9" in text
    assert "was aborted" not in text
    assert "refused to abort the multipart upload" in text and "MethodNotAllowed" in text
    assert f"aws s3api abort-multipart-upload --bucket {BUCKET} --key {req.location.dump_key}" in text
    assert "--upload-id " in text and "AbortIncompleteMultipartUpload" in text
    assert keys(client, BUCKET, prefix) == []  # nothing at the final key


def test_moto_still_reports_a_clean_abort(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    """The same failure on a store that aborts: the message says so and no upload stays open."""
    client = s3_server.client()
    prefix = _prefix()
    _, failed = backup_killed_mid_dump(pg_server, scratch_db, client, prefix)
    assert "refused to abort" not in str(failed)
    assert client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", []) == []


# ----------------------------------------------------------------------------- checksums over HTTPS
def test_default_checksums_over_https_are_caught_and_when_required_fixes_them(
    pg_server: PostgresServer, scratch_db: str, s3rver_tls: S3rverServer
) -> None:
    """Over HTTPS botocore sends aws-chunked bodies that s3rver stores as data: the backup must fail
    naming the setting and leave nothing at the key; with ``when_required`` it succeeds and verifies."""
    fill(pg_server, scratch_db, 50_000)
    prefix = _prefix()
    with pytest.raises(BackupTargetError, match="request_checksum_calculation") as failed:
        run_backup(s3rver_tls.client(), request(pg_server, scratch_db, prefix, chunk_bytes=CHUNK))
    assert "was deleted" in str(failed.value)
    assert keys(s3rver_tls.client(), BUCKET, prefix) == []

    client = s3rver_tls.client(**CHECKSUMS_WHEN_REQUIRED)
    manifest = run_backup(client, request(pg_server, scratch_db, prefix, chunk_bytes=CHUNK))
    out = verify_backup(client, manifest, prefix, ["/usr/lib/postgresql/*/bin"], None)
    assert out["sha256_ok"] and out["pointer_moved"]


def test_sidecars_written_as_aws_chunked_bodies_are_refused(s3rver_tls: S3rverServer) -> None:
    """put_confirmed catches a sidecar stored with another body (the manifest, verified.json, pointer)."""
    with pytest.raises(StorageError, match="expected 9"):
        storage.put_confirmed(s3rver_tls.client(), BUCKET, f"{_prefix()}/manifest.json", b'{"a": 1}\n')


def test_verify_rereads_the_manifest_and_refuses_a_corrupt_one(
    pg_server: PostgresServer, scratch_db: str, s3rver_tls: S3rverServer
) -> None:
    fill(pg_server, scratch_db, 100)
    client = s3rver_tls.client(**CHECKSUMS_WHEN_REQUIRED)
    prefix = _prefix()
    manifest = run_backup(client, request(pg_server, scratch_db, prefix))
    loc = BackupLocation(BUCKET, prefix, dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    # The same manifest, re-uploaded by a client with default checksums: stored aws-chunked.
    good = client.get_object(Bucket=BUCKET, Key=loc.manifest_key)
    s3rver_tls.client().put_object(
        Bucket=BUCKET, Key=loc.manifest_key, Body=good["Body"].read(), Metadata=good["Metadata"]
    )
    with pytest.raises(VerificationError, match=r"manifest unusable: .* is corrupt"):
        verify_backup(client, manifest, prefix, ["/usr/lib/postgresql/*/bin"], None)
    assert read_latest_verified(client, BUCKET, prefix) is None


@pytest.mark.parametrize("damage", ["aws-chunked", "not-json"])
def test_restore_cli_allow_unverified_fails_in_one_line_on_a_corrupt_manifest(
    pg_server: PostgresServer, scratch_db: str, target_db: str, s3rver_tls: S3rverServer, damage: str
) -> None:
    fill(pg_server, scratch_db, 100)
    client = s3rver_tls.client(**CHECKSUMS_WHEN_REQUIRED)
    prefix = _prefix()
    run_backup(client, request(pg_server, scratch_db, prefix))
    loc = BackupLocation(BUCKET, prefix, dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    if damage == "aws-chunked":
        good = client.get_object(Bucket=BUCKET, Key=loc.manifest_key)
        s3rver_tls.client().put_object(
            Bucket=BUCKET, Key=loc.manifest_key, Body=good["Body"].read(), Metadata=good["Metadata"]
        )
    else:
        client.put_object(Bucket=BUCKET, Key=loc.manifest_key, Body=b'{"dag_id": "ops_metadata_backup", ')
    done = _restore_cli(
        s3rver_tls, "--prefix", prefix, "--allow-unverified", "--checksum-when-required",
        "--target-url", pg_server.url_for(target_db),
    )  # fmt: skip
    assert done.returncode == 1
    # stderr also carries botocore's INFO lines ("Found credentials..."); the failure is one line.
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: manifest unusable:"), done.stderr
    assert "Traceback" not in done.stderr and "JSONDecodeError" not in done.stderr
    assert ("is corrupt" if damage == "aws-chunked" else "is not valid JSON") in errors[0]


def test_restore_cli_with_checksum_when_required_restores_over_https(
    pg_server: PostgresServer, scratch_db: str, target_db: str, s3rver_tls: S3rverServer
) -> None:
    fill(pg_server, scratch_db, 3_000)
    client = s3rver_tls.client(**CHECKSUMS_WHEN_REQUIRED)
    prefix = _prefix()
    manifest = run_backup(client, request(pg_server, scratch_db, prefix))
    mark_verified(client, manifest, prefix, "2026-11-01T00:10:00+00:00", False)
    done = _restore_cli(
        s3rver_tls,
        "--prefix",
        prefix,
        "--checksum-when-required",
        "--target-url",
        pg_server.url_for(target_db),
    )
    assert done.returncode == 0, done.stderr
    assert _count(pg_server, target_db, "t") == 3_000


def test_aws_connection_config_kwargs_reach_the_task_client(
    pg_server: PostgresServer, scratch_db: str, s3rver_tls: S3rverServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAGs' client (connections.s3_client, through S3Hook) honours the connection's config_kwargs
    and keeps the bundle's retry policy unless the connection overrides it."""
    from airflow_ops.connections import s3_client

    extra = {
        "endpoint_url": s3rver_tls.endpoint_url,
        "region_name": "us-east-1",
        "verify": s3rver_tls.ca_bundle,
        "config_kwargs": dict(CHECKSUMS_WHEN_REQUIRED),
    }
    conn = {"conn_type": "aws", "login": "S3RVER", "password": "S3RVER", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_OPS_SECOND_STORE", json.dumps(conn))
    client = s3_client("ops_second_store")
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    fill(pg_server, scratch_db, 1_000)
    manifest = run_backup(client, request(pg_server, scratch_db, _prefix()))
    assert manifest.size_bytes > 0

    conn["extra"] = {**extra, "config_kwargs": {"retries": {"mode": "adaptive", "max_attempts": 3}}}
    monkeypatch.setenv("AIRFLOW_CONN_OPS_SECOND_STORE", json.dumps(conn))
    assert s3_client("ops_second_store").meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}


# ----------------------------------------------------------------------------- listings and deletes
def _history(client: Any, prefix: str, days: int) -> None:
    end = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    locs = [BackupLocation(BUCKET, prefix, end - dt.timedelta(days=back)) for back in range(days)]
    puts = [key for loc in locs for key in (loc.dump_key, loc.manifest_key, loc.verified_key)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=BUCKET, Key=key, Body=b"x"), puts))


@pytest.mark.parametrize("store", ["s3_server", "s3rver_server"])
def test_listing_and_retention_page_past_1000_keys(
    store: str, request: pytest.FixtureRequest, fresh_warnings: None, record_property: Any
) -> None:
    server = request.getfixturevalue(store)
    client = server.client()
    counter = RetryCounter(client)
    prefix = _prefix()
    _history(client, prefix, 400)  # 1,200 keys
    listed = [o["Key"] for o in list_objects(client, BUCKET, prefix + "/")]
    assert len(listed) == len(set(listed)) == 1200
    assert len(list_backups(client, BUCKET, prefix)) == 400

    started = time.monotonic()
    result = apply_retention(client, BUCKET, prefix, RetentionPolicy(7, 4, 6))
    remaining = list_backups(client, BUCKET, prefix)
    assert len(remaining) == 14 and result.objects_deleted == (400 - 14) * 3
    assert sorted(b.folder for b in remaining) == sorted(result.kept)
    record_property("retries_seen", counter.retries)
    print(
        f"\n{store}: {counter.calls} calls, {counter.retries} retries seen "
        f"(retention {time.monotonic() - started:.1f}s)"
    )


def test_multi_object_delete_500s_are_retried_until_every_key_is_gone(
    s3rver_server: S3rverServer, record_property: Any
) -> None:
    """s3rver's DeleteObjects races on removing emptied folders and answers 500 now and then."""
    client = s3rver_server.client()
    counter = RetryCounter(client)
    prefix = _prefix()
    doomed = [f"{prefix}/{i % 40:02d}/{i // 40:03d}/obj-{i}" for i in range(2400)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=BUCKET, Key=key, Body=b"x"), doomed))
    assert delete_keys(client, BUCKET, doomed) == 2400
    assert list(list_objects(client, BUCKET, prefix + "/")) == []
    record_property("retries_seen", counter.retries)
    print(
        f"\ns3rver DeleteObjects of 2400 nested keys: {counter.calls} calls, {counter.retries} retries seen"
    )


def test_a_delete_that_fails_after_retries_names_the_keys_left(s3rver_server: S3rverServer) -> None:
    client = s3rver_server.client()
    doomed = [f"k/{i:04d}" for i in range(1500)]
    with pytest.raises(StorageError) as failed:
        delete_keys(client, "no-such-bucket-second-store", doomed)
    text = str(failed.value)
    assert "1500 key(s) left" in text and "'k/0000'" in text and "(+1495 more)" in text


# ----------------------------------------------------------------------------- export and log archive
def test_export_upload_retention_and_restore_fetch_on_s3rver(
    s3rver_server: S3rverServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_ops.export.crypto import ExportKey
    from airflow_ops.export.model import Snapshot, VariableEntry
    from airflow_ops.export.restore import decrypt_export
    from airflow_ops.export.service import export_snapshot
    from airflow_ops.export.store import base_prefix, delete_exports, list_exports, load_manifest
    from airflow_ops_tools.restore_export import fetch

    key = ExportKey("second-store-key-" + "y" * 30)
    client, prefix, bucket = s3rver_server.client(), _prefix(), "airflow-ops-exports"
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    summaries = [
        export_snapshot(
            Snapshot(variables={"a": VariableEntry(str(i)), "b": VariableEntry("x" * 2000)}),
            key,
            client,
            bucket=bucket,
            prefix=prefix,
            dag_id="d",
            run_id="r",
            when=day + dt.timedelta(days=i),
        )
        for i in range(3)
    ]
    refs = list_exports(client, bucket, base_prefix(prefix, "d"))
    assert len(refs) == 3
    assert load_manifest(client, bucket, refs[-1])["object_sha256"]

    for name, value in s3rver_server.aws_env().items():
        monkeypatch.setenv(name, value)
    blob = fetch(f"s3://{bucket}/{summaries[-1]['object_key']}", s3rver_server.endpoint_url)
    snap, _meta = decrypt_export(blob, key, allow_plaintext=False)
    assert snap.variables["a"].value == "2" and snap.variables["b"].value == "x" * 2000

    assert delete_exports(client, bucket, refs[:2]) == 2
    assert len(list_exports(client, bucket, base_prefix(prefix, "d"))) == 1


def test_log_archive_uploads_confirms_then_deletes_on_s3rver(
    tmp_path: Path, s3rver_server: S3rverServer
) -> None:
    import io
    import tarfile

    from airflow_ops.logcleanup.roots import LogRoot
    from airflow_ops.logcleanup.service import ArchiveTarget, sweep_roots
    from airflow_ops.logcleanup.sweep import RetentionPolicy as LogRetention

    old = time.time() - 40 * 86_400
    files = []
    for run in range(6):
        path = tmp_path / "dag_id=d" / f"run_id=r{run}" / "task_id=t" / "attempt=1.log"
        path.parent.mkdir(parents=True)
        path.write_text(f"log of r{run}\n" * 200)
        os.utime(path, (old, old))
        files.append(path)
    client, prefix = s3rver_server.client(), _prefix()
    [stats] = sweep_roots(
        [LogRoot("task-logs", str(tmp_path), dag_layout=True)],
        LogRetention(30),
        dry_run=False,
        archive=ArchiveTarget(client, "airflow-ops-logs", prefix, 2, 64 << 20),
        run_key="run1",
    )
    assert stats.files_deleted == 6 and not any(p.exists() for p in files)
    names: set[str] = set()
    objects = list(list_objects(client, "airflow-ops-logs", prefix + "/"))
    assert len(objects) == 3
    for obj in objects:
        body = client.get_object(Bucket="airflow-ops-logs", Key=obj["Key"])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            names |= set(tar.getnames())
    assert names == {f"dag_id=d/run_id=r{run}/task_id=t/attempt=1.log" for run in range(6)}


def test_restore_export_cli_imports_an_export_from_s3rver_over_https(
    tmp_path: Path, pg_server: PostgresServer, s3rver_tls: S3rverServer
) -> None:
    """The whole restore-export CLI (download, decrypt, diff, import, read back) on the second store."""
    from cryptography.fernet import Fernet

    from airflow_ops.export.crypto import ExportKey
    from airflow_ops.export.model import Snapshot, VariableEntry
    from airflow_ops.export.service import export_snapshot
    from tests.harness import AirflowStack

    secret = "second-store-restore-key-" + "z" * 30
    client = s3rver_tls.client(**CHECKSUMS_WHEN_REQUIRED)
    prefix = _prefix()
    summary = export_snapshot(
        Snapshot(variables={f"{prefix}_a": VariableEntry("1"), f"{prefix}_b": VariableEntry("two")}),
        ExportKey(secret),
        client,
        bucket="airflow-ops-exports",
        prefix=prefix,
        dag_id="d",
        run_id="r",
        when=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
    )
    name = pg_server.create_database("airflow_ops_second_restore")
    try:
        url = pg_server.sqlalchemy_url(name)
        target = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        }
        stack = AirflowStack(tmp_path / "home", url, tmp_path / "dags")
        stack.migrate()
        done = subprocess.run(
            [
                sys.executable, "-m", "airflow_ops_tools.cli", "restore-export",
                f"s3://airflow-ops-exports/{summary['object_key']}", "--checksum-when-required",
            ],
            env={**stack.env, **target, **s3rver_tls.aws_env(), "AIRFLOW_OPS_EXPORT_KEY": secret},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "imported and verified 2 variables" in done.stdout
        conn = psycopg2.connect(pg_server.url_for(name))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM variable WHERE key LIKE %s", (prefix + "%",))
            assert cur.fetchone()[0] == 2
        conn.close()
    finally:
        pg_server.drop_database(name)
