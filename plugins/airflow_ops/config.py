"""Typed schema for ``config/*.yml`` and the loader that validates a file at the edge.

Each DAG instance is one YAML file whose ``kind`` selects its model. Errors name the file,
the field path and the reason, so a bad file never reaches ``dags/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from airflow_ops.exceptions import ConfigError
from airflow_ops.schema import AlertsConfig, CommonConfig, EmailAlert, WebhookAlert

__all__ = [
    "AlertsConfig",
    "CommonConfig",
    "EmailAlert",
    "WebhookAlert",
    "load_config_file",
    "parse_config",
]


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    from airflow_ops.registry import KINDS

    return TypeAdapter(KINDS[kind].schema())


def parse_config(raw: Any, source: str = "<config>") -> CommonConfig:
    """Validate a mapping into its kind's model; raise :class:`ConfigError` naming the field."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "<root>", f"expected a mapping of settings, got {type(raw).__name__}")
    from airflow_ops.registry import KINDS

    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(source, "kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")
    try:
        model: CommonConfig = _adapter(kind).validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        field = ".".join(loc) or "<root>"
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown key (check the spelling; see README 'Configuration')"
        elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], dict):
            reason = f"{reason} (got {err['input']!r})"
        more = len(exc.errors()) - 1
        if more:
            reason += f" (and {more} more error{'s' if more > 1 else ''})"
        raise ConfigError(source, field, reason) from None
    return model


def load_config_file(path: Path) -> CommonConfig:
    """Read and validate one YAML file; the file's stem must equal its dag_id."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        raise ConfigError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot read: {exc.strerror}") from None
    except ValueError as exc:  # YAML timestamps that are not dates, e.g. start_date: 2024-13-45
        raise ConfigError(str(path), "<yaml>", f"invalid value: {exc}; write dates as YYYY-MM-DD") from None
    model = parse_config(raw, str(path))
    if model.dag_id != path.stem:
        raise ConfigError(
            str(path), "dag_id", f"must match the file name {path.stem!r} (got {model.dag_id!r})"
        )
    return model
