"""Variables and Connections as stored, and the import documents the Airflow CLI accepts.

A variable value is kept as the exact stored string and written as a JSON string, so
``airflow variables import`` stores it unchanged (it only re-serialises non-string values).
A connection's ``extra`` is kept as its stored string for the same reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = "airflow-ops-config-export/1"
CONNECTION_FIELDS = ("conn_type", "description", "host", "schema", "login", "password", "port", "extra")


@dataclass(frozen=True)
class VariableEntry:
    value: str
    description: str | None = None

    def __repr__(self) -> str:
        return f"VariableEntry(<{len(self.value)} chars>, description={self.description is not None})"


@dataclass(frozen=True)
class ConnectionEntry:
    conn_type: str
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None

    def __repr__(self) -> str:
        return f"ConnectionEntry(conn_type={self.conn_type!r}, host={self.host!r}, password=***)"


@dataclass
class Snapshot:
    """Every DB-stored Variable and Connection, decrypted. Never log one of these."""

    variables: dict[str, VariableEntry] = field(default_factory=dict)
    connections: dict[str, ConnectionEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def variables_document(self) -> dict[str, Any]:
        """What ``airflow variables import FILE.json`` accepts."""
        doc: dict[str, Any] = {}
        for key in sorted(self.variables):
            entry = self.variables[key]
            if entry.description is None:
                doc[key] = entry.value
            else:
                doc[key] = {"value": entry.value, "description": entry.description}
        return doc

    def connections_document(self) -> dict[str, Any]:
        """What ``airflow connections import FILE.json`` accepts (same shape as its JSON export)."""
        return {cid: asdict(self.connections[cid]) for cid in sorted(self.connections)}

    def to_payload(self, meta: dict[str, Any]) -> bytes:
        body = {
            "format": FORMAT,
            "meta": meta,
            "variables": self.variables_document(),
            "connections": self.connections_document(),
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_documents(cls, variables: dict[str, Any], connections: dict[str, Any]) -> Snapshot:
        snap = cls()
        for key, raw in variables.items():
            if isinstance(raw, dict) and "value" in raw:
                value, description = raw["value"], raw.get("description")
            else:
                value, description = raw, None
            if not isinstance(value, str):
                value = json.dumps(value)
            snap.variables[key] = VariableEntry(value, description)
        for cid, raw in connections.items():
            unknown = set(raw) - set(CONNECTION_FIELDS)
            if unknown:
                raise ValueError(f"connection {cid!r}: unexpected fields {sorted(unknown)}")
            extra = raw.get("extra")
            if extra is not None and not isinstance(extra, str):
                extra = json.dumps(extra)
            port = raw.get("port")
            snap.connections[cid] = ConnectionEntry(
                conn_type=raw["conn_type"],
                description=raw.get("description"),
                host=raw.get("host"),
                schema=raw.get("schema"),
                login=raw.get("login"),
                password=raw.get("password"),
                port=int(port) if port is not None else None,
                extra=extra,
            )
        return snap

    @classmethod
    def from_payload(cls, data: bytes) -> tuple[Snapshot, dict[str, Any]]:
        body = json.loads(data.decode("utf-8"))
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} payload")
        return cls.from_documents(body["variables"], body["connections"]), dict(body.get("meta") or {})
