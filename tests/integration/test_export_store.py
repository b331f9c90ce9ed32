"""Export service against a real S3 API (moto server): idempotent keys, diff, retention, dry run."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from airflow_ops.export.crypto import ExportKey, open_sealed
from airflow_ops.export.model import Snapshot, VariableEntry
from airflow_ops.export.service import export_snapshot
from airflow_ops.export.store import base_prefix, delete_exports, list_exports
from airflow_ops.retention import GfsPolicy
from tests.harness import MotoServer

BUCKET = "airflow-ops-exports"
KEY = ExportKey("store-test-key-" + "x" * 30)
DAY = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _export(
    client: Any, prefix: str, when: dt.datetime, dry_run: bool = False, **variables: str
) -> dict[str, Any]:
    snap = Snapshot(variables={k: VariableEntry(v) for k, v in variables.items()})
    return export_snapshot(
        snap, KEY, client, bucket=BUCKET, prefix=prefix, dag_id="d", run_id="r", when=when, dry_run=dry_run
    )


def test_same_logical_date_overwrites_one_object(s3_server: MotoServer) -> None:
    client, prefix = s3_server.client(), f"t{uuid.uuid4().hex[:8]}"
    first = _export(client, prefix, DAY, a="1")
    second = _export(client, prefix, DAY, a="2")
    assert first["object_key"] == second["object_key"]
    assert len(list_exports(client, BUCKET, base_prefix(prefix, "d"))) == 1
    blob = client.get_object(Bucket=BUCKET, Key=second["object_key"])["Body"].read()
    snap, _ = Snapshot.from_payload(open_sealed(blob, KEY))
    assert snap.variables["a"].value == "2"


def test_rerun_diffs_against_the_previous_date_not_itself(s3_server: MotoServer) -> None:
    client, prefix = s3_server.client(), f"t{uuid.uuid4().hex[:8]}"
    _export(client, prefix, DAY, a="1")
    _export(client, prefix, DAY + dt.timedelta(days=1), a="2", b="3")
    rerun = _export(client, prefix, DAY + dt.timedelta(days=1), a="2", b="3")
    assert rerun["diff"]["changed_variables"] == ["a"]
    assert rerun["diff"]["added_variables"] == ["b"]


def test_dry_run_uploads_nothing(s3_server: MotoServer) -> None:
    client, prefix = s3_server.client(), f"t{uuid.uuid4().hex[:8]}"
    summary = _export(client, prefix, DAY, dry_run=True, a="1")
    assert summary["uploaded"] is False
    assert list_exports(client, BUCKET, base_prefix(prefix, "d")) == []


def test_retention_deletes_object_and_manifest_of_expired_exports(s3_server: MotoServer) -> None:
    client, prefix = s3_server.client(), f"t{uuid.uuid4().hex[:8]}"
    for i in range(5):
        _export(client, prefix, DAY + dt.timedelta(days=i), a=str(i))
    refs = list_exports(client, BUCKET, base_prefix(prefix, "d"))
    policy = GfsPolicy(keep_last=2, keep_daily=0, keep_weekly=0, keep_monthly=0)
    assert delete_exports(client, BUCKET, policy.select_expired(refs, lambda r: r.when)) == 3
    left = client.list_objects_v2(Bucket=BUCKET, Prefix=base_prefix(prefix, "d"))["Contents"]
    assert len(left) == 4  # 2 objects + 2 manifests
