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
    """Run ``step(cfg, context)`` and push its return value to XCom."""

    template_fields: Sequence[str] = ()
    ui_color = "#e8f4ea"

    def __init__(self, *, step: str, cfg: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.cfg = cfg

    def execute(self, context: Any) -> Any:
        module_name, _, func_name = self.step.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        return func(self.cfg, context)


def upstream(context: Any, task_id: str) -> Any:
    """The return value of an upstream step in the same run."""
    return context["ti"].xcom_pull(task_ids=task_id)


def param(context: Any, name: str, default: Any = None) -> Any:
    """A run param (trigger-form value or ``conf`` override), falling back to ``default``."""
    value = (context.get("params") or {}).get(name)
    return default if value is None else value
