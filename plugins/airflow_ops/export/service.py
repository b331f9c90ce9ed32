"""Compose one export: snapshot -> payload -> sealed object -> S3 -> manifest -> diff summary.

Used by the DAG task and by the benchmark, so both measure the same code path. The summary
holds counts, names and digests' verdicts only, never a value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow_ops.export.crypto import ExportKey
from airflow_ops.export.diff import MANIFEST_FORMAT, diff_manifests, digests
from airflow_ops.export.model import Snapshot
from airflow_ops.export.store import base_prefix, list_exports, load_manifest, object_key, upload_export

#: Names per diff list carried in XCom and the report (the manifest keeps them all).
NAMES_CAP = 200


def export_snapshot(
    snapshot: Snapshot,
    key: ExportKey,
    client: Any,
    *,
    bucket: str,
    prefix: str,
    dag_id: str,
    run_id: str,
    when: dt.datetime,
    sse_kms_key_id: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    target_key = object_key(prefix, dag_id, when)
    refs = [
        r for r in list_exports(client, bucket, base_prefix(prefix, dag_id)) if r.object_key != target_key
    ]
    older = [r for r in refs if r.when < when.astimezone(dt.UTC)]
    previous = load_manifest(client, bucket, older[-1]) if older else None

    hashed = digests(snapshot, key)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "dag_id": dag_id,
        "run_id": run_id,
        "logical_date": when.astimezone(dt.UTC).isoformat(),
        "encrypted": key.encrypting,
        "key_id": key.key_ids[0] if key.encrypting else None,
        "hash_key_id": key.hash_key_id,
        "counts": {"variables": len(snapshot.variables), "connections": len(snapshot.connections)},
        **hashed,
    }
    diff = diff_manifests(previous, manifest)
    manifest["diff"] = diff.to_dict()
    warnings = list(snapshot.warnings)
    if not diff.comparable:
        warnings.append(
            "the previous export used another hash key (key rotated): "
            "changed values cannot be detected this run"
        )
    if not key.encrypting:
        warnings.append("export is NOT encrypted (allow_plaintext): use only for a local profile")

    summary: dict[str, Any] = {
        "object_key": target_key,
        "bucket": bucket,
        "variables": len(snapshot.variables),
        "connections": len(snapshot.connections),
        "encrypted": key.encrypting,
        "key_id": manifest["key_id"],
        "dry_run": dry_run,
        "uploaded": False,
        "object_bytes": None,
        "object_sha256": None,
        "diff": _capped(diff.to_dict()),
        "diff_total": diff.total,
        "warnings": warnings,
    }
    if dry_run:
        return summary
    blob = key.seal(
        snapshot.to_payload({"dag_id": dag_id, "run_id": run_id, "logical_date": manifest["logical_date"]}),
        created=dt.datetime.now(dt.UTC).isoformat(),
    )
    stored = upload_export(client, bucket, target_key, blob, manifest, sse_kms_key_id)
    summary.update(uploaded=True, object_bytes=stored["object_bytes"], object_sha256=stored["object_sha256"])
    return summary


def _capped(diff: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in diff.items():
        if isinstance(value, list) and len(value) > NAMES_CAP:
            out[name] = value[:NAMES_CAP]
            out[name + "_more"] = len(value) - NAMES_CAP
        else:
            out[name] = value
    return out
