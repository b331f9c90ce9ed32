"""The loader that validates a ``config/*.yml`` file at the edge, against the schema it is given.

Each DAG instance is one YAML file whose ``kind`` selects its model; the lookup by kind name is the
table of kinds' (:func:`airflow_ops.registry.parse`, :func:`airflow_ops.registry.load_config_file`).
Errors name the file, the field path and the reason, so a bad file never reaches ``dags/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

from airflow_ops.exceptions import ConfigError
from airflow_ops.schema import AlertsConfig, CommonConfig, EmailAlert, WebhookAlert

__all__ = [
    "AlertsConfig",
    "CommonConfig",
    "EmailAlert",
    "WebhookAlert",
    "check_file_name",
    "parse_config",
    "read_config_file",
]

C = TypeVar("C", bound=CommonConfig)


@cache
def _adapter(schema: type[CommonConfig]) -> TypeAdapter[Any]:
    return TypeAdapter(schema)


def parse_config(raw: Any, schema: type[C], source: str = "<config>") -> C:
    """Validate a mapping into ``schema``; raise :class:`ConfigError` naming the field."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "<root>", f"expected a mapping of settings, got {type(raw).__name__}")
    try:
        model: C = _adapter(schema).validate_python(raw)
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


#: Limits of a config file, each refused with one line before it can cost memory or time: a DAG's
#: config is a few hundred bytes to a few KB.
MAX_CONFIG_BYTES = 256 * 1024
MAX_CONFIG_DEPTH = 32
#: values once YAML aliases are expanded (a 1.8 KB alias bomb expands to billions)
MAX_CONFIG_VALUES = 50_000


class _DuplicateKey(Exception):
    def __init__(self, key: object, first: int, second: int) -> None:
        self.key, self.first, self.second = key, first, second


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key: SafeLoader names it below
                pass
        return super().construct_mapping(node, deep=deep)


def _check_shape(raw: object, source: str) -> None:
    """Refuse a document nested deeper than MAX_CONFIG_DEPTH or expanding past MAX_CONFIG_VALUES."""
    count = 0
    stack: list[tuple[object, int]] = [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(
                source,
                "<yaml>",
                f"expands to more than {MAX_CONFIG_VALUES} values (YAML aliases?): write it out plainly",
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(source, "<yaml>", f"nested deeper than {MAX_CONFIG_DEPTH} levels: flatten it")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def load_yaml(text: str, source: str) -> Any:
    """Parse one config document strictly: duplicate keys, size, depth and alias expansion are refused,
    each with one line naming the file and the fix."""
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise ConfigError(
            source, "<file>", f"is larger than {MAX_CONFIG_BYTES >> 10} KiB: a DAG's config is a few KB"
        )
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(
            source,
            str(exc.key),
            f"written twice (lines {exc.first} and {exc.second}); YAML would keep only the last: keep one",
        ) from None
    except RecursionError:
        raise ConfigError(
            source, "<yaml>", f"nested deeper than {MAX_CONFIG_DEPTH} levels: flatten it"
        ) from None
    _check_shape(raw, source)
    return raw


def read_config_file(path: Path) -> Any:
    """Read one YAML file strictly (see :func:`load_yaml`); every read or parse error is one line."""
    try:
        return load_yaml(path.read_text(encoding="utf-8"), str(path))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "<file>", "is not UTF-8 text: save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        raise ConfigError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot read: {exc.strerror}") from None
    except ValueError as exc:  # YAML timestamps that are not dates, e.g. start_date: 2024-13-45
        raise ConfigError(str(path), "<yaml>", f"invalid value: {exc}; write dates as YYYY-MM-DD") from None


def check_file_name(model: CommonConfig, path: Path) -> None:
    """The file's stem must equal its dag_id."""
    if model.dag_id != path.stem:
        raise ConfigError(
            str(path), "dag_id", f"must match the file name {path.stem!r} (got {model.dag_id!r})"
        )
