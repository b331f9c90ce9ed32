"""Archive-before-delete against the moto S3 server over HTTP."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from airflow_ops.logcleanup.archive import ArchiveUploadError
from airflow_ops.logcleanup.roots import LogRoot
from airflow_ops.logcleanup.service import ArchiveTarget, sweep_roots
from airflow_ops.logcleanup.sweep import RetentionPolicy
from tests.harness import MotoServer


def _tree(root: Path) -> list[Path]:
    old_ts = time.time() - 40 * 86_400
    files = []
    for run in ("r1", "r2"):
        path = root / "dag_id=d" / f"run_id={run}" / "task_id=t" / "attempt=1.log"
        path.parent.mkdir(parents=True)
        path.write_text(f"log of {run}\n")
        os.utime(path, (old_ts, old_ts))
        files.append(path)
    return files


def test_expired_logs_are_uploaded_and_confirmed_then_deleted(tmp_path: Path, s3_server: MotoServer) -> None:
    files = _tree(tmp_path)
    archive = ArchiveTarget(s3_server.client(), "airflow-ops-logs", "archive-test", 1, 64 << 20)
    [stats] = sweep_roots(
        [LogRoot("task-logs", str(tmp_path), dag_layout=True)],
        RetentionPolicy(30),
        dry_run=False,
        archive=archive,
        run_key="run1",
    )
    assert not any(p.exists() for p in files)
    assert stats.files_deleted == 2
    objs = s3_server.client().list_objects_v2(Bucket="airflow-ops-logs", Prefix="archive-test/")["Contents"]
    assert len(objs) == 2  # batch_max_files=1: one confirmed upload per file
    names = set()
    for obj in objs:
        body = s3_server.client().get_object(Bucket="airflow-ops-logs", Key=obj["Key"])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            names |= set(tar.getnames())
    assert names == {
        "dag_id=d/run_id=r1/task_id=t/attempt=1.log",
        "dag_id=d/run_id=r2/task_id=t/attempt=1.log",
    }


def test_failed_upload_deletes_nothing(tmp_path: Path, s3_server: MotoServer) -> None:
    files = _tree(tmp_path)
    archive = ArchiveTarget(s3_server.client(), "no-such-bucket-here", "x", 1000, 64 << 20)
    with pytest.raises(ArchiveUploadError, match="no log file was deleted"):
        sweep_roots(
            [LogRoot("task-logs", str(tmp_path), dag_layout=True)],
            RetentionPolicy(30),
            dry_run=False,
            archive=archive,
        )
    assert all(p.exists() for p in files)
