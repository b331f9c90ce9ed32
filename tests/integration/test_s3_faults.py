"""S3 faults between the bundle and a real S3 server: 503 SlowDown bursts, resets mid-part, latency.

A fault proxy (``tests/faultproxy.py``) sits on 127.0.0.1 between the bundle's client and the
moto server. The client is the one the DAGs build (``connections.s3_client`` through ``S3Hook``,
the bundle's retry policy ``storage.RETRIES``). Backup, export upload and log archive must each
either complete through botocore's retries or fail with one clear line, leaving no object at a
final key and no open multipart upload. Every test prints the proxy's figures (``-s``): requests,
faults injected, retries seen; and asserts that every injected fault was answered by a retry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import random
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_ops.backup.dump import run_backup
from airflow_ops.backup.errors import BackupTargetError
from airflow_ops.storage import RETRIES
from tests.faultproxy import FaultProxy, Rule
from tests.harness import MotoServer, PostgresServer
from tests.integration.backup_helpers import BUCKET, CHUNK, fill, keys, open_uploads, request

CONN_ID = "ops_fault_proxy"
ATTEMPTS = int(RETRIES["total_max_attempts"])
LOGS = "airflow-ops-logs"
EXPORTS = "airflow-ops-exports"


def _prefix(what: str) -> str:
    return f"faults-{what}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def proxy(
    s3_server: MotoServer, request: pytest.FixtureRequest, record_property: Any
) -> Iterator[FaultProxy]:
    started = time.monotonic()
    with FaultProxy.to(s3_server.endpoint_url) as fp:
        yield fp
    line = f"{request.node.name}: {fp.summary()} ({time.monotonic() - started:.1f}s)"
    print("\n" + line)
    record_property("fault_proxy", line)


def task_client(
    monkeypatch: pytest.MonkeyPatch, proxy: FaultProxy, login: str = "testing", **config_kwargs: Any
) -> Any:
    """The client a DAG task builds from its AWS connection, pointed at the proxy."""
    from airflow_ops.connections import s3_client

    extra: dict[str, Any] = {"endpoint_url": proxy.endpoint_url, "region_name": "us-east-1"}
    if config_kwargs:
        extra["config_kwargs"] = config_kwargs
    conn = {"conn_type": "aws", "login": login, "password": login, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return s3_client(CONN_ID)


def injected(proxy: FaultProxy, kind: str, op: str | None = None) -> int:
    return sum(n for (k, o), n in proxy.faults().items() if k == kind and (op is None or o == op))


def assert_every_fault_was_retried(proxy: FaultProxy) -> None:
    failures = injected(proxy, "slowdown") + injected(proxy, "reset")
    assert failures > 0, "no fault was injected: the test proved nothing"
    assert proxy.retries() == failures, proxy.summary()


def one_line(text: str) -> None:
    assert "\n" not in text and "Traceback" not in text, text


# ----------------------------------------------------------------------------- backup
def test_backup_completes_through_slowdown_bursts_part_resets_and_latency(
    pg_server: PostgresServer, scratch_db: str, proxy: FaultProxy, s3_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    fill(pg_server, scratch_db, 400_000, width_md5=2)  # about 6 parts of 5 MiB, uncompressed
    client = task_client(monkeypatch, proxy)
    assert client.meta.config.retries == RETRIES
    proxy.set_rules(
        Rule("slowdown", ops={"HeadBucket"}, burst=2),
        Rule("slowdown", ops={"ListMultipartUploads", "CreateMultipartUpload"}, burst=1, every=2, limit=2),
        Rule("slowdown", ops={"UploadPart"}, first=2, burst=3),
        Rule("reset", ops={"UploadPart"}, first=3, burst=1, every=2, limit=3),
        Rule(
            "slowdown", ops={"CompleteMultipartUpload", "PutObject", "HeadObject"}, burst=1, every=2, limit=4
        ),
        Rule("latency", burst=1, every=1, delay_s=0.05),
    )
    prefix = _prefix("backup")
    req = request(pg_server, scratch_db, prefix, chunk_bytes=CHUNK, concurrency=2, compression="none")
    manifest = run_backup(client, req)
    direct = s3_server.client()
    body = direct.get_object(Bucket=BUCKET, Key=manifest.key)["Body"].read()
    assert len(body) == manifest.size_bytes > 4 * CHUNK
    assert hashlib.sha256(body).hexdigest() == manifest.sha256
    stored = json.loads(direct.get_object(Bucket=BUCKET, Key=req.location.manifest_key)["Body"].read())
    assert stored["sha256"] == manifest.sha256
    assert open_uploads(direct, BUCKET, prefix) == []
    assert injected(proxy, "reset", "UploadPart") == 3 and injected(proxy, "slowdown", "UploadPart") == 3
    assert_every_fault_was_retried(proxy)


def test_backup_whose_part_is_reset_on_every_attempt_aborts_cleanly(
    pg_server: PostgresServer, scratch_db: str, proxy: FaultProxy, s3_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    fill(pg_server, scratch_db, 120_000, width_md5=2)
    client = task_client(monkeypatch, proxy)
    proxy.set_rules(Rule("reset", ops={"UploadPart"}, first=2, burst=ATTEMPTS))
    prefix = _prefix("backup-reset")
    req = request(pg_server, scratch_db, prefix, chunk_bytes=CHUNK, concurrency=1, compression="none")
    with pytest.raises(BackupTargetError) as failed:
        run_backup(client, req)
    text = str(failed.value)
    one_line(text)
    assert f"upload to s3://{BUCKET}/{req.location.dump_key} failed" in text
    assert "The multipart upload was aborted: no object was written at that key." in text
    assert injected(proxy, "reset", "UploadPart") == ATTEMPTS
    assert proxy.retries("UploadPart") == ATTEMPTS - 1  # botocore's whole budget, then the abort
    direct = s3_server.client()
    assert keys(direct, BUCKET, prefix) == []
    assert open_uploads(direct, BUCKET, prefix) == []


def test_backup_past_the_connections_retry_budget_fails_naming_slowdown(
    pg_server: PostgresServer, scratch_db: str, proxy: FaultProxy, s3_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A connection that lowers the budget (config_kwargs.retries): the SlowDown burst outlasts it."""
    fill(pg_server, scratch_db, 120_000, width_md5=2)  # two parts
    client = task_client(monkeypatch, proxy, retries={"mode": "standard", "total_max_attempts": 3})
    proxy.set_rules(Rule("slowdown", ops={"UploadPart"}, first=2, burst=3))
    prefix = _prefix("backup-slowdown")
    req = request(pg_server, scratch_db, prefix, chunk_bytes=CHUNK, concurrency=1, compression="none")
    with pytest.raises(BackupTargetError) as failed:
        run_backup(client, req)
    text = str(failed.value)
    one_line(text)
    assert "SlowDown" in text and "aborted" in text
    assert proxy.retries("UploadPart") == 2
    direct = s3_server.client()
    assert keys(direct, BUCKET, prefix) == [] and open_uploads(direct, BUCKET, prefix) == []


@pytest.mark.parametrize("store", ["s3_server", "s3rver_server"])
def test_backup_whose_completion_answer_is_lost_ends_with_the_dump_it_completed(
    store: str, pg_server: PostgresServer, scratch_db: str, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """CompleteMultipartUpload took effect but its answer was lost, so botocore repeats it: moto
    answers the repeat 200 (as S3 does), s3rver 500 until the retries run out. Either way the object
    at the key is this run's (its size, created since the upload began): the backup succeeds."""
    server = request.getfixturevalue(store)
    fill(pg_server, scratch_db, 120_000, width_md5=2)
    with FaultProxy.to(server.endpoint_url, Rule("drop", ops={"CompleteMultipartUpload"})) as proxy:
        secret = "testing" if store == "s3_server" else "S3RVER"
        client = task_client(monkeypatch, proxy, login=secret)
        prefix = _prefix("backup-lost-answer")
        req = request_for(pg_server, scratch_db, prefix)
        manifest = run_backup(client, req)
        print(f"\n{store}: {proxy.summary()}")
        assert injected(proxy, "drop", "CompleteMultipartUpload") == 1
        assert proxy.retries("CompleteMultipartUpload") == (1 if store == "s3_server" else ATTEMPTS - 1)
    direct = server.client()
    body = direct.get_object(Bucket=BUCKET, Key=manifest.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == manifest.sha256 and len(body) > CHUNK
    if store == "s3_server":  # s3rver has no ListMultipartUploads
        assert open_uploads(direct, BUCKET, prefix) == []


def request_for(pg_server: PostgresServer, dbname: str, prefix: str) -> Any:
    return request(pg_server, dbname, prefix, chunk_bytes=CHUNK, concurrency=1, compression="none")


def test_backup_against_a_throttling_bucket_says_so_not_permissions(
    pg_server: PostgresServer, scratch_db: str, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = task_client(monkeypatch, proxy, retries={"mode": "standard", "total_max_attempts": 2})
    proxy.set_rules(Rule("slowdown", ops={"HeadBucket"}, burst=2))
    with pytest.raises(BackupTargetError) as failed:
        run_backup(client, request(pg_server, scratch_db, _prefix("backup-bucket")))
    text = str(failed.value)
    one_line(text)
    assert "503" in text and "2 attempt(s)" in text and "grant" not in text
    assert proxy.retries("HeadBucket") == 1


# ----------------------------------------------------------------------------- export
def _export(client: Any, prefix: str, when: dt.datetime) -> dict[str, Any]:
    from airflow_ops.export.crypto import ExportKey
    from airflow_ops.export.model import Snapshot, VariableEntry
    from airflow_ops.export.service import export_snapshot

    noise = base64.b64encode(random.Random(7).randbytes(128_000)).decode()  # incompressible, same each run
    snap = Snapshot(variables={"a": VariableEntry(str(when.day)), "big": VariableEntry(noise)})
    return export_snapshot(
        snap, ExportKey("fault-proxy-key-" + "k" * 30), client,
        bucket=EXPORTS, prefix=prefix, dag_id="d", run_id="r", when=when,
    )  # fmt: skip


def test_export_upload_completes_through_slowdown_resets_and_latency(
    proxy: FaultProxy, s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_ops.export.store import base_prefix, list_exports, load_manifest

    client = task_client(monkeypatch, proxy)
    prefix = _prefix("export")
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    _export(client, prefix, day)
    proxy.set_rules(
        Rule("slowdown", ops={"ListObjectsV2", "GetObject"}, burst=1, every=1, limit=2),
        Rule("slowdown", ops={"PutObject"}, burst=2),
        Rule("reset", ops={"PutObject"}, burst=1, every=2, limit=2),
        Rule("slowdown", ops={"HeadObject"}, burst=1, every=2, limit=2),
        Rule("latency", burst=1, every=1, delay_s=0.05),
    )
    summary = _export(client, prefix, day + dt.timedelta(days=1))
    assert summary["uploaded"] and summary["diff"]["changed_variables"] == ["a"]
    direct = s3_server.client()
    refs = list_exports(direct, EXPORTS, base_prefix(prefix, "d"))
    assert [r.object_key for r in refs][-1] == summary["object_key"]
    blob = direct.get_object(Bucket=EXPORTS, Key=summary["object_key"])["Body"].read()
    assert hashlib.sha256(blob).hexdigest() == load_manifest(direct, EXPORTS, refs[-1])["object_sha256"]
    assert injected(proxy, "reset", "PutObject") == 2
    assert_every_fault_was_retried(proxy)


@pytest.mark.parametrize("failing", ["object", "manifest"])
def test_export_upload_past_the_retries_fails_cleanly_and_leaves_no_object(
    failing: str, proxy: FaultProxy, s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_ops.export.store import ExportStoreError, base_prefix, list_exports

    client = task_client(monkeypatch, proxy)
    prefix = _prefix(f"export-{failing}")
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    _export(client, prefix, day)  # a complete export of the same date: the re-run must not break it
    # The object is the first PutObject of a run, the manifest the second.
    first = 1 if failing == "object" else 2
    proxy.set_rules(Rule("reset", ops={"PutObject"}, first=first, burst=ATTEMPTS))
    with pytest.raises(ExportStoreError) as failed:
        _export(client, prefix, day)
    text = str(failed.value)
    one_line(text)
    assert "ConnectionClosedError" in text or "Connection" in text, text
    assert proxy.retries("PutObject") == ATTEMPTS - 1
    direct = s3_server.client()
    left = keys(direct, EXPORTS, prefix)
    refs = list_exports(direct, EXPORTS, base_prefix(prefix, "d"))
    # Either the previous export of that date is intact, or nothing of that date is left: never an
    # object without its manifest, nor a manifest describing another object.
    for ref in refs:
        from airflow_ops.export.store import load_manifest

        blob = direct.get_object(Bucket=EXPORTS, Key=ref.object_key)["Body"].read()
        assert hashlib.sha256(blob).hexdigest() == load_manifest(direct, EXPORTS, ref)["object_sha256"]
    assert sorted(left) == sorted(k for r in refs for k in (r.object_key, r.manifest_key)), left


# ----------------------------------------------------------------------------- log archive
def _log_tree(root: Path, runs: int, big_bytes: int = 0) -> list[Path]:
    old = time.time() - 40 * 86_400
    files = []
    for run in range(runs):
        path = root / "dag_id=d" / f"run_id=r{run}" / "task_id=t" / "attempt=1.log"
        path.parent.mkdir(parents=True)
        text = f"log of r{run}\n" * 200
        if big_bytes and run == 0:
            text += base64.b64encode(os.urandom(big_bytes)).decode()  # barely compressible
        path.write_text(text)
        os.utime(path, (old, old))
        files.append(path)
    return files


def _archive(client: Any, root: Path, prefix: str, batch_files: int) -> Any:
    from airflow_ops.logcleanup.roots import LogRoot
    from airflow_ops.logcleanup.service import ArchiveTarget, sweep_roots
    from airflow_ops.logcleanup.sweep import RetentionPolicy

    [stats] = sweep_roots(
        [LogRoot("task-logs", str(root), dag_layout=True)],
        RetentionPolicy(30),
        dry_run=False,
        archive=ArchiveTarget(client, LOGS, prefix, batch_files, 64 << 20),
        run_key="run1",
    )
    return stats


def _archived_names(client: Any, prefix: str) -> set[str]:
    names: set[str] = set()
    for obj in client.list_objects_v2(Bucket=LOGS, Prefix=prefix + "/").get("Contents", []):
        body = client.get_object(Bucket=LOGS, Key=obj["Key"])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            names |= set(tar.getnames())
    return names


def test_log_archive_completes_through_slowdown_part_resets_and_latency(
    tmp_path: Path, proxy: FaultProxy, s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four batches; the first holds a 13 MB file, so it goes up in parts (multipart above 8 MB)."""
    files = _log_tree(tmp_path, 8, big_bytes=10 << 20)
    client = task_client(monkeypatch, proxy)
    proxy.set_rules(
        Rule("slowdown", ops={"UploadPart"}, burst=2),
        Rule("reset", ops={"UploadPart"}, burst=1),
        Rule("slowdown", ops={"PutObject"}, burst=2),
        Rule("reset", ops={"PutObject"}, first=2, burst=1),
        Rule("slowdown", ops={"HeadObject", "CompleteMultipartUpload"}, burst=1, every=2, limit=3),
        Rule("latency", burst=1, every=1, delay_s=0.05),
    )
    prefix = _prefix("logs")
    stats = _archive(client, tmp_path, prefix, batch_files=2)
    assert stats.files_deleted == 8 and not any(p.exists() for p in files)
    direct = s3_server.client()
    assert _archived_names(direct, prefix) == {
        f"dag_id=d/run_id=r{run}/task_id=t/attempt=1.log" for run in range(8)
    }
    assert open_uploads(direct, LOGS, prefix) == []
    assert injected(proxy, "reset", "UploadPart") == 1 and injected(proxy, "reset", "PutObject") == 1
    assert_every_fault_was_retried(proxy)


@pytest.mark.parametrize("big", [False, True], ids=["put", "multipart"])
def test_log_archive_past_the_retries_deletes_nothing_and_leaves_no_object(
    big: bool, tmp_path: Path, proxy: FaultProxy, s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_ops.logcleanup.archive import ArchiveUploadError

    files = _log_tree(tmp_path, 3, big_bytes=(10 << 20) if big else 0)
    client = task_client(monkeypatch, proxy)
    op = "UploadPart" if big else "PutObject"
    proxy.set_rules(Rule("reset", ops={op}, burst=1, every=1))  # every attempt of every part
    prefix = _prefix("logs-fail")
    with pytest.raises(ArchiveUploadError) as failed:
        _archive(client, tmp_path, prefix, batch_files=100)
    text = str(failed.value)
    one_line(text)
    assert "no log file was deleted" in text and f"s3://{LOGS}/{prefix}" in text
    assert all(p.exists() for p in files)
    assert proxy.retries(op) >= ATTEMPTS - 1
    direct = s3_server.client()
    assert keys(direct, LOGS, prefix) == [] and open_uploads(direct, LOGS, prefix) == []
