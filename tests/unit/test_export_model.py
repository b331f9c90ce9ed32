"""Import documents: exactly what `airflow variables import` / `connections import` accept."""

from __future__ import annotations

import json

import pytest

from airflow_ops.export.model import ConnectionEntry, Snapshot, VariableEntry


def _snap() -> Snapshot:
    return Snapshot(
        variables={
            "plain": VariableEntry("text"),
            "json_like": VariableEntry('{"value": 1}', "has a description"),
            "exp": VariableEntry("1e3"),
        },
        connections={
            "pg": ConnectionEntry(
                "postgres", None, "h", "db", "u", "pässwörd", 5432, '{"sslmode": "require"}'
            ),
        },
    )


def test_variable_values_are_always_their_stored_strings() -> None:
    doc = _snap().variables_document()
    assert doc["plain"] == "text"
    assert doc["exp"] == "1e3"
    assert doc["json_like"] == {"value": '{"value": 1}', "description": "has a description"}


def test_connections_document_has_the_cli_export_fields() -> None:
    doc = _snap().connections_document()
    assert set(doc["pg"]) == {
        "conn_type",
        "description",
        "host",
        "schema",
        "login",
        "password",
        "port",
        "extra",
    }
    assert doc["pg"]["extra"] == '{"sslmode": "require"}'


def test_payload_round_trips_losslessly() -> None:
    snap = _snap()
    back, meta = Snapshot.from_payload(snap.to_payload({"run_id": "r"}))
    assert back.variables == snap.variables
    assert back.connections == snap.connections
    assert meta == {"run_id": "r"}


def test_documents_from_the_cli_export_shape_are_understood() -> None:
    snap = Snapshot.from_documents(
        {"n": 3, "d": {"value": {"a": 1}, "description": None}},
        {"c": {"conn_type": "aws", "extra": {"region_name": "x"}, "port": "5"}},
    )
    assert snap.variables["n"] == VariableEntry("3")
    assert json.loads(snap.variables["d"].value) == {"a": 1}
    assert snap.connections["c"].port == 5
    assert json.loads(snap.connections["c"].extra or "") == {"region_name": "x"}


def test_unknown_connection_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="unexpected fields"):
        Snapshot.from_documents({}, {"c": {"conn_type": "x", "uri": "y"}})


def test_entry_repr_never_shows_secret_values() -> None:
    snap = _snap()
    assert "pässwörd" not in repr(snap.connections["pg"])
    assert "1e3" not in repr(snap.variables["exp"])
