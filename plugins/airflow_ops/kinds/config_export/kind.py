"""The row of ``kind: config_export`` (:class:`airflow_ops.kind.Kind`): what its DAG file imports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ops.kind import Kind
from airflow_ops.kinds.config_export import METRICS

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_ops.kinds.config_export.schema import ConfigExportConfig


def _schema() -> type[ConfigExportConfig]:
    from airflow_ops.kinds.config_export.schema import ConfigExportConfig

    return ConfigExportConfig


def _build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    from airflow_ops.kinds.config_export.dag import build

    return build(spec, dag_kwargs, kind)


KIND = Kind("config_export", "Config export", METRICS, _schema, _build, Path(__file__).parent)
