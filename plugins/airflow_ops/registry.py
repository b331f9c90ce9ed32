"""The table of maintenance kinds: the only place every kind is named, and the lookup by kind name.

A row (:class:`airflow_ops.kind.Kind`, defined in ``kinds/<kind>/kind.py``) ties a ``kind:`` value to
its folder's parts: the DAG shape, the config schema, the doc template and the headline metrics of
its reports. Adding a kind is one folder and one entry here.

This module sits above every kind, so nothing in the runtime package imports it: a DAG file imports
its own kind's row and the factory hands that row down to the steps. The generator, the CLI, the
Maintenance page and the tests read the whole table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_ops.config import check_file_name, parse_config, read_config_file
from airflow_ops.exceptions import ConfigError
from airflow_ops.kind import Kind
from airflow_ops.kinds.config_export.kind import KIND as CONFIG_EXPORT
from airflow_ops.kinds.db_cleanup.kind import KIND as DB_CLEANUP
from airflow_ops.kinds.health_probe.kind import KIND as HEALTH_PROBE
from airflow_ops.kinds.log_cleanup.kind import KIND as LOG_CLEANUP
from airflow_ops.kinds.metadata_backup.kind import KIND as METADATA_BACKUP
from airflow_ops.schema import CommonConfig

__all__ = ["KINDS", "Kind", "kind_of", "load_config_file", "parse"]

KINDS: dict[str, Kind] = {
    k.name: k for k in (HEALTH_PROBE, METADATA_BACKUP, LOG_CLEANUP, DB_CLEANUP, CONFIG_EXPORT)
}


def kind_of(name: str) -> Kind:
    return KINDS[name]


def parse(raw: Any, source: str = "<config>") -> CommonConfig:
    """Validate a mapping into the model of its ``kind``; raise :class:`ConfigError` naming the field."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "<root>", f"expected a mapping of settings, got {type(raw).__name__}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(source, "kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")
    return parse_config(raw, KINDS[kind].schema(), source)


def load_config_file(path: Path) -> CommonConfig:
    """Read and validate one YAML file; the file's stem must equal its dag_id."""
    model = parse(read_config_file(path), str(path))
    check_file_name(model, path)
    return model
