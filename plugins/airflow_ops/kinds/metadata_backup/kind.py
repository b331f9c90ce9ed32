"""The row of ``kind: metadata_backup`` (:class:`airflow_ops.kind.Kind`): what its DAG file imports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ops.kind import Kind
from airflow_ops.kinds.metadata_backup import METRICS

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_ops.kinds.metadata_backup.schema import MetadataBackupConfig


def _schema() -> type[MetadataBackupConfig]:
    from airflow_ops.kinds.metadata_backup.schema import MetadataBackupConfig

    return MetadataBackupConfig


def _build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    from airflow_ops.kinds.metadata_backup.dag import build

    return build(spec, dag_kwargs, kind)


KIND = Kind("metadata_backup", "Metadata DB backup", METRICS, _schema, _build, Path(__file__).parent)
