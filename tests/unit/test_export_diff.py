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


# --- Issue 23: the diff on manifests written out by hand ---

PREV = {
    "hash_key_id": "h1",
    "object_key": "exports/ops/2026-11-22T000000Z.json.enc",
    "variables": {"a": "d1", "b": "d2", "c": "d3"},
    "connections": {"x": "e1", "y": "e2"},
}
CUR = {
    "hash_key_id": "h1",
    "variables": {"a": "d1", "b": "D2", "d": "d4"},
    "connections": {"y": "E2", "z": "e3"},
}


def test_the_diff_of_two_hand_written_manifests() -> None:
    diff = diff_manifests(PREV, CUR)
    assert diff.to_dict() == {
        "previous": "exports/ops/2026-11-22T000000Z.json.enc",
        "comparable": True,
        "added_variables": ["d"],
        "removed_variables": ["c"],
        "changed_variables": ["b"],
        "added_connections": ["z"],
        "removed_connections": ["x"],
        "changed_connections": ["y"],
    }
    assert diff.total == 6


def test_names_come_sorted() -> None:
    cur = {**CUR, "variables": {"zeta": "1", "alpha": "2", "mid": "3"}, "connections": {}}
    diff = diff_manifests(PREV, cur)
    assert diff.added_variables == ["alpha", "mid", "zeta"]
    assert diff.removed_variables == ["a", "b", "c"]
    assert diff.removed_connections == ["x", "y"]


def test_changes_are_sorted_too() -> None:
    prev = {**PREV, "variables": {"q": "1", "b": "1", "k": "1"}}
    cur = {**CUR, "variables": {"q": "2", "b": "2", "k": "2"}}
    assert diff_manifests(prev, cur).changed_variables == ["b", "k", "q"]


def test_without_a_previous_export_everything_is_added_and_comparable() -> None:
    diff = diff_manifests(None, CUR)
    assert diff.to_dict() == {
        "previous": None,
        "comparable": True,
        "added_variables": ["a", "b", "d"],
        "removed_variables": [],
        "changed_variables": [],
        "added_connections": ["y", "z"],
        "removed_connections": [],
        "changed_connections": [],
    }
    assert diff.total == 5


def test_a_previous_manifest_without_object_key_names_no_previous() -> None:
    prev = {k: v for k, v in PREV.items() if k != "object_key"}
    assert diff_manifests(prev, CUR).previous is None


def test_under_another_hash_key_nothing_is_called_changed_on_either_side() -> None:
    diff = diff_manifests({**PREV, "hash_key_id": "h0"}, CUR)
    assert diff.comparable is False
    assert (diff.changed_variables, diff.changed_connections) == ([], [])
    assert (diff.added_variables, diff.removed_variables) == (["d"], ["c"])
    assert (diff.added_connections, diff.removed_connections) == (["z"], ["x"])
    assert diff.total == 4


def test_a_fresh_diff_is_empty_and_comparable() -> None:
    from airflow_ops.export.diff import ExportDiff

    empty = ExportDiff()
    assert (empty.previous, empty.comparable, empty.total) == (None, True, 0)
    assert ExportDiff.change_fields() == (
        "added_variables",
        "removed_variables",
        "changed_variables",
        "added_connections",
        "removed_connections",
        "changed_connections",
    )


def test_digests_are_the_keyed_hash_of_each_entry_under_its_kind() -> None:
    from dataclasses import asdict

    key = ExportKey(KEY)
    snap = Snapshot(
        variables={"shared": VariableEntry("1")},
        connections={"shared": ConnectionEntry("http", password="p1")},
    )
    got = digests(snap, key)
    assert got == {
        "variables": {"shared": key.digest("variable", "shared", asdict(snap.variables["shared"]))},
        "connections": {"shared": key.digest("connection", "shared", asdict(snap.connections["shared"]))},
    }
    assert got["variables"]["shared"] != key.digest("connection", "shared", asdict(snap.variables["shared"]))
