"""Settings read from the environment: the only place airflow-ops reads ``os.environ`` for itself."""

from __future__ import annotations

import os
from pathlib import Path

#: Connection to the metadata DB used deliberately by maintenance tasks (task isolation blocks the ORM).
METADATA_DB_CONN_ID = "airflow_metadata_db"
#: Connection to the Airflow REST API (host, port, login, password) used for health and run notes.
API_CONN_ID = "airflow_ops_api"


def repo_root() -> Path:
    """The bundle's root directory (the parent of ``plugins/``)."""
    return Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    return Path(os.environ.get("AIRFLOW_OPS_CONFIG_DIR", str(repo_root() / "config")))


def dags_dir() -> Path:
    return Path(os.environ.get("AIRFLOW_OPS_DAGS_DIR", str(repo_root() / "dags")))


def http_timeout_seconds() -> float:
    return float(os.environ.get("AIRFLOW_OPS_HTTP_TIMEOUT", "10"))
