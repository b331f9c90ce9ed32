"""The row of ``kind: db_cleanup`` (:class:`airflow_ops.kind.Kind`): what its DAG file imports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ops.kind import Kind
from airflow_ops.kinds.db_cleanup import METRICS

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_ops.kinds.db_cleanup.schema import DbCleanupConfig


def _schema() -> type[DbCleanupConfig]:
    from airflow_ops.kinds.db_cleanup.schema import DbCleanupConfig

    return DbCleanupConfig


def _build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    from airflow_ops.kinds.db_cleanup.dag import build

    return build(spec, dag_kwargs, kind)


KIND = Kind("db_cleanup", "Metadata DB cleanup", METRICS, _schema, _build, Path(__file__).parent)
