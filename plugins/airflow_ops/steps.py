"""``MaintenanceStep``: the one operator the bundle's DAGs declare.

A step names a library function (``"module:function"``) that receives the validated config and
the task context. Declaring a step costs less at parse time than a ``@task`` (no signature
inspection), and keeps every line of logic in the library, importable and unit-testable.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator


class MaintenanceStep(BaseOperator):
    """Run ``step(cfg, context)`` and push its return value to XCom. Declare with :func:`maintenance_step`."""

    template_fields: Sequence[str] = ()
    ui_color = "#e8f4ea"
    step: str = ""
    cfg: Any = None

    def execute(self, context: Any) -> Any:
        module_name, _, func_name = self.step.partition(":")
        if not func_name:
            raise ValueError(f"task {self.task_id!r}: step must be 'module:function' (got {self.step!r})")
        func = getattr(importlib.import_module(module_name), func_name)
        return func(self.cfg, context)


def maintenance_step(*, step: str, cfg: Any, **kwargs: Any) -> MaintenanceStep:
    """Declare a :class:`MaintenanceStep` running ``step`` (``"module:function"``) with ``cfg``.

    ``MaintenanceStep`` has no ``__init__`` of its own on purpose: Airflow wraps each operator
    class's ``__init__`` to merge ``default_args`` and deep-copy the DAG's Params again, so a
    subclass constructor costs about 20 µs more per task, every time the file is parsed.
    """
    op = MaintenanceStep(**kwargs)
    op.step = step
    op.cfg = cfg
    return op


def upstream(context: Any, task_id: str) -> Any:
    """The return value of an upstream step in the same run."""
    return context["ti"].xcom_pull(task_ids=task_id)


def param(context: Any, name: str, default: Any = None) -> Any:
    """A run param (trigger-form value or ``conf`` override), falling back to ``default``."""
    value = (context.get("params") or {}).get(name)
    return default if value is None else value
