"""Config schema and key resolution of the config export DAG."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_ops.exceptions import ConfigError, MissingConnectionError
from airflow_ops.kinds.config_export import tasks
from airflow_ops.kinds.config_export.schema import ConfigExportConfig
from airflow_ops.registry import parse

BASE = {"kind": "config_export", "dag_id": "x", "bucket": "airflow-ops-exports"}


def _cfg(**over: Any) -> ConfigExportConfig:
    cfg = parse({**BASE, **over})
    assert isinstance(cfg, ConfigExportConfig)
    return cfg


def test_defaults_encrypt_with_the_ops_export_key_connection() -> None:
    cfg = _cfg()
    assert cfg.encryption.key_conn_id == "ops_export_key"
    assert cfg.encryption.allow_plaintext is False
    assert cfg.schedule == "@daily"


def test_no_key_and_no_plaintext_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="allow_plaintext"):
        _cfg(encryption={"key_conn_id": None})


def test_unknown_retention_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"retention\.keep_yearly"):
        _cfg(retention={"keep_yearly": 1})


def _no_connection(conn_id: str, purpose: str, kind: str = "http") -> Any:
    raise MissingConnectionError(conn_id, purpose, "...")


def test_missing_key_connection_refuses_upload_naming_the_env_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("airflow_ops.connections.get_connection", _no_connection)
    with pytest.raises(
        tasks.ExportKeyMissing, match=r"refusing to upload an unencrypted export.*AIRFLOW_CONN_OPS_EXPORT_KEY"
    ):
        tasks.export_secret(_cfg())


def test_missing_key_connection_with_allow_plaintext_exports_unencrypted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("airflow_ops.connections.get_connection", _no_connection)
    assert tasks.export_secret(_cfg(encryption={"allow_plaintext": True})) is None


def test_key_connection_without_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "airflow_ops.connections.get_connection", lambda *a, **k: SimpleNamespace(password=None)
    )
    with pytest.raises(tasks.ExportKeyMissing, match="has no password"):
        tasks.export_secret(_cfg())
