"""``Kind``: the row of a maintenance kind, handed down from the DAG file to the factory and the steps.

Each ``kinds/<kind>/kind.py`` defines its row (``KIND``); the DAG file imports that one row, the
factory builds the DAG with it and every step keeps it, so nothing below climbs back up to the
table of kinds (``airflow_ops.registry``) for a title, the metrics or the schema.

Reading a row is cheap: the config schema (building pydantic models is the largest part of a cold
parse) and the DAG shape (``BaseOperator``) are imported only when :attr:`Kind.schema` or
:attr:`Kind.build` is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ops.metric import Metric

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_ops.schema import CommonConfig


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    #: The headline figures of its reports (``RunReport.metrics``), emitted by ``airflow_ops.metrics``.
    metrics: tuple[Metric, ...]
    #: Returns the pydantic model of its config.
    schema: Callable[[], type[CommonConfig]]
    #: ``build(spec, dag_kwargs, kind) -> DAG``; ``spec`` is the generator-validated literal of a DAG file.
    build: Callable[[Mapping[str, Any], dict[str, Any], Kind], DAG]
    #: ``kinds/<kind>/``: its schema, DAG shape, task glue and doc template.
    folder: Path

    @property
    def doc_template(self) -> Path:
        return self.folder / "doc.md.j2"
