"""Diff between exports: names only, changes decided by keyed hash."""

from __future__ import annotations

from airflow_ops.export.crypto import ExportKey
from airflow_ops.export.diff import diff_manifests, digests
from airflow_ops.export.model import ConnectionEntry, Snapshot, VariableEntry

KEY = "k" * 40


def _manifest(snap: Snapshot, key: str = KEY) -> dict[str, object]:
    k = ExportKey(key)
    return {"hash_key_id": k.hash_key_id, "object_key": "prev", **digests(snap, k)}


def _snap(**variables: str) -> Snapshot:
    return Snapshot(
        variables={k: VariableEntry(v) for k, v in variables.items()},
        connections={"c1": ConnectionEntry("http", password="p1")},
    )


def test_first_export_lists_everything_as_added() -> None:
    diff = diff_manifests(None, _manifest(_snap(a="1")))
    assert diff.added_variables == ["a"] and diff.added_connections == ["c1"]
    assert diff.previous is None


def test_added_removed_and_changed_are_named() -> None:
    old = _manifest(_snap(a="1", b="2", c="3"))
    new = _manifest(_snap(a="1", b="changed", d="4"))
    diff = diff_manifests(old, new)
    assert (diff.added_variables, diff.removed_variables, diff.changed_variables) == (["d"], ["c"], ["b"])
    assert diff.total == 3


def test_changed_connection_password_is_flagged() -> None:
    old = _manifest(_snap())
    snap = _snap()
    snap.connections["c1"] = ConnectionEntry("http", password="p2")
    assert diff_manifests(old, _manifest(snap)).changed_connections == ["c1"]


def test_changed_description_alone_is_flagged() -> None:
    old = _manifest(Snapshot(variables={"a": VariableEntry("1", "x")}))
    new = _manifest(Snapshot(variables={"a": VariableEntry("1", "y")}))
    assert diff_manifests(old, new).changed_variables == ["a"]


def test_rotated_hash_key_reports_no_false_changes() -> None:
    old = _manifest(_snap(a="1", b="2"), key="o" * 40)
    diff = diff_manifests(old, _manifest(_snap(a="1", c="3")))
    assert not diff.comparable
    assert diff.changed_variables == []
    assert (diff.added_variables, diff.removed_variables) == (["c"], ["b"])


def test_manifest_digests_reveal_no_value() -> None:
    manifest = _manifest(_snap(a="super-secret-value"))
    assert "super-secret-value" not in str(manifest)
