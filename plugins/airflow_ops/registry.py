"""The table of maintenance kinds: the only place a kind is named.

A row ties a ``kind:`` value to its folder's parts: the DAG shape (``kinds/<kind>/dag.py``,
imported at parse time), the config schema (``kinds/<kind>/schema.py``, imported only by the
generator and inside tasks, because building pydantic models is the largest part of a cold
parse), the doc template and the headline metrics of its reports. Adding a kind is one folder
and one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ops.kinds import config_export, db_cleanup, health_probe, log_cleanup, metadata_backup
from airflow_ops.kinds.config_export import dag as config_export_dag
from airflow_ops.kinds.db_cleanup import dag as db_cleanup_dag
from airflow_ops.kinds.health_probe import dag as health_probe_dag
from airflow_ops.kinds.log_cleanup import dag as log_cleanup_dag
from airflow_ops.kinds.metadata_backup import dag as metadata_backup_dag
from airflow_ops.report import Metric

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_ops.schema import CommonConfig


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    #: ``build(spec, dag_kwargs) -> DAG``; ``spec`` is the generator-validated literal of a DAG file.
    build: Callable[[Mapping[str, Any], dict[str, Any]], DAG]
    #: Returns the pydantic model (imported on call: pydantic model building is kept out of parsing).
    schema: Callable[[], type[CommonConfig]]
    metrics: tuple[Metric, ...]
    package: Any

    @property
    def doc_template(self) -> Path:
        return Path(self.package.__file__).parent / "doc.md.j2"


def _health_probe() -> type[CommonConfig]:
    from airflow_ops.kinds.health_probe.schema import HealthProbeConfig

    return HealthProbeConfig


def _metadata_backup() -> type[CommonConfig]:
    from airflow_ops.kinds.metadata_backup.schema import MetadataBackupConfig

    return MetadataBackupConfig


def _log_cleanup() -> type[CommonConfig]:
    from airflow_ops.kinds.log_cleanup.schema import LogCleanupConfig

    return LogCleanupConfig


def _db_cleanup() -> type[CommonConfig]:
    from airflow_ops.kinds.db_cleanup.schema import DbCleanupConfig

    return DbCleanupConfig


def _config_export() -> type[CommonConfig]:
    from airflow_ops.kinds.config_export.schema import ConfigExportConfig

    return ConfigExportConfig


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "health_probe",
            "Health probe",
            health_probe_dag.build,
            _health_probe,
            health_probe.METRICS,
            health_probe,
        ),
        Kind(
            "metadata_backup",
            "Metadata DB backup",
            metadata_backup_dag.build,
            _metadata_backup,
            metadata_backup.METRICS,
            metadata_backup,
        ),
        Kind(
            "log_cleanup",
            "Log cleanup",
            log_cleanup_dag.build,
            _log_cleanup,
            log_cleanup.METRICS,
            log_cleanup,
        ),
        Kind(
            "db_cleanup",
            "Metadata DB cleanup",
            db_cleanup_dag.build,
            _db_cleanup,
            db_cleanup.METRICS,
            db_cleanup,
        ),
        Kind(
            "config_export",
            "Config export",
            config_export_dag.build,
            _config_export,
            config_export.METRICS,
            config_export,
        ),
    )
}


def kind_of(name: str) -> Kind:
    return KINDS[name]
