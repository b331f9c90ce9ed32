"""Keyed-hash digests of a snapshot and the diff between two exports (names only, never values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_ops.export.crypto import ExportKey
from airflow_ops.export.model import Snapshot

MANIFEST_FORMAT = "airflow-ops-config-export-manifest/1"


def digests(snapshot: Snapshot, key: ExportKey) -> dict[str, dict[str, str]]:
    return {
        "variables": {k: key.digest("variable", k, asdict(v)) for k, v in snapshot.variables.items()},
        "connections": {c: key.digest("connection", c, asdict(v)) for c, v in snapshot.connections.items()},
    }


@dataclass
class ExportDiff:
    """What changed since the previous export. ``changed`` is decided by keyed hash."""

    previous: str | None = None
    comparable: bool = True
    added_variables: list[str] = field(default_factory=list)
    removed_variables: list[str] = field(default_factory=list)
    changed_variables: list[str] = field(default_factory=list)
    added_connections: list[str] = field(default_factory=list)
    removed_connections: list[str] = field(default_factory=list)
    changed_connections: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(getattr(self, n)) for n in self.change_fields())

    @staticmethod
    def change_fields() -> tuple[str, ...]:
        return (
            "added_variables",
            "removed_variables",
            "changed_variables",
            "added_connections",
            "removed_connections",
            "changed_connections",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _side(
    old: dict[str, str], new: dict[str, str], comparable: bool
) -> tuple[list[str], list[str], list[str]]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(new) & set(old) if comparable and new[k] != old[k])
    return added, removed, changed


def diff_manifests(previous: dict[str, Any] | None, current: dict[str, Any]) -> ExportDiff:
    """Diff two manifests; with no previous export everything is 'added'."""
    prev = previous or {"variables": {}, "connections": {}, "hash_key_id": current["hash_key_id"]}
    comparable = prev.get("hash_key_id") == current["hash_key_id"]
    av, rv, cv = _side(prev["variables"], current["variables"], comparable)
    ac, rc, cc = _side(prev["connections"], current["connections"], comparable)
    return ExportDiff(
        previous=previous.get("object_key") if previous else None,
        comparable=comparable,
        added_variables=av,
        removed_variables=rv,
        changed_variables=cv,
        added_connections=ac,
        removed_connections=rc,
        changed_connections=cc,
    )
