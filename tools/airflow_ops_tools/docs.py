"""The bodies of the generated sections of README.md and ``docs/``: facts that live in code.

A page marks each generated section ``<!-- section:NAME -->`` ... ``<!-- /section:NAME -->``;
``airflow-ops docs`` (:mod:`airflow_ops_tools.readme`) rewrites the bodies, ``--check`` fails on drift.
A section NAME may carry an argument after a colon, the kind: ``kind-doc:log_cleanup``.

- ``kind-doc:<kind>``: the shipped DAG's ``doc_md``, rendered from ``kinds/<kind>/doc.md.j2`` with
  ``config/<dag_id>.yml`` exactly as ``airflow-ops generate`` renders it into ``dags/``;
- ``config-reference:common`` / ``config-reference:<kind>``: field, type, default and description,
  read from the pydantic schemas (a field's ``description``, else its ``#:`` comment);
- ``metrics``: every kind's ``METRICS`` rows and the run metrics;
- ``excluded-tables``: ``airflow_ops.dbclean.tables.EXCLUDED_TABLES``;
- ``support-matrix``: ``airflow_ops.compat.DIFFERENCES``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import types
from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from airflow_ops_tools.paths import ROOT

#: A generator takes the section's argument ("" when it has none) and returns the body.
Generator = Callable[[str], str]


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


# --- metrics, excluded tables, support matrix ---------------------------------------------------


def metrics_table(_: str = "") -> str:
    from airflow_ops.metrics import metric_rows
    from airflow_ops.registry import KINDS

    rows = metric_rows({name: kind.metrics for name, kind in KINDS.items()})
    lines = [
        "| Metric (tagged: `dag_id`, `mode`) | Plain StatsD name | Type | Unit | Meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r['name']}` | `{r['statsd']}` | {r['type']} | {r['unit']} | {r['help'].replace('|', '/')} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def excluded_tables(_: str = "") -> str:
    from airflow_ops.dbclean.tables import EXCLUDED_TABLES

    lines = ["| table | Airflow | why it is left out |", "|---|---|---|"]
    lines += [f"| `{t}` | {', '.join(e.minors)} | {e.reason} |" for t, e in EXCLUDED_TABLES.items()]
    return "\n".join(lines) + "\n"


def support_matrix(_: str = "") -> str:
    """Release x feature, from the one seam's list of differences (``airflow_ops.compat``)."""
    from airflow_ops.compat import DIFFERENCES, SUPPORTED_MINORS, minor

    def has(since: str, release: str) -> bool:
        return minor(release) >= minor(since)

    lines = [
        "| feature | " + " | ".join(f"Airflow {m}" for m in SUPPORTED_MINORS) + " | without it |",
        "|---|" + "---|" * len(SUPPORTED_MINORS) + "---|",
    ]
    for d in DIFFERENCES:
        cells = " | ".join("yes" if has(d.since, m) else "no" for m in SUPPORTED_MINORS)
        lines.append(f"| {d.what} | {cells} | {d.without} |")
    return "\n".join(lines) + "\n"


# --- one page per kind: the shipped DAG's doc_md ------------------------------------------------


@cache
def _shipped_docs() -> dict[str, tuple[str, str]]:
    """kind -> (config file, doc_md) of the shipped configs, rendered as ``airflow-ops generate`` does."""
    from airflow_ops.registry import load_config_file
    from airflow_ops_tools import generator

    configs = [(p, load_config_file(p)) for p in generator.config_files(ROOT / "config")]
    configs = generator._with_alert_channels(configs)
    out: dict[str, tuple[str, str]] = {}
    for path, cfg in configs:
        kind = str(getattr(cfg, "kind"))  # noqa: B009 - every concrete config has it
        out.setdefault(kind, (f"config/{path.name}", generator.render_doc(cfg)))
    return out


_LIST_ITEM = re.compile(r"(\d+\.|[-*]) ")


def _lists_set_apart(doc: str) -> str:
    """``doc`` with a blank line before a list that starts right under a paragraph line.

    The Airflow UI's Markdown starts the list there; Python-Markdown (MkDocs) needs the blank line.
    """
    out: list[str] = []
    for line in doc.splitlines():
        prev = out[-1] if out else ""
        if _LIST_ITEM.match(line) and prev.strip() and not prev[0].isspace() and not _LIST_ITEM.match(prev):
            out.append("")
        out.append(line)
    return "\n".join(out)


def kind_doc(kind: str) -> str:
    from airflow_ops.registry import KINDS

    if kind not in KINDS:
        raise ValueError(f"section kind-doc:{kind}: no such kind (one of {', '.join(KINDS)})")
    shipped = _shipped_docs()
    if kind not in shipped:
        raise ValueError(f"section kind-doc:{kind}: config/ ships no DAG of this kind")
    source, doc = shipped[kind]
    return (
        f"{_lists_set_apart(doc)}\n\n"
        f"*The text above is the DAG's own `doc_md`, as shown in the Airflow UI: "
        f"`plugins/airflow_ops/kinds/{kind}/doc.md.j2` rendered with `{source}`.*\n"
    )


# --- the configuration reference ---------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``Model``, ``Model | None``, ``list[Model]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is Annotated:
        return _type_name(get_args(annotation)[0])
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in get_args(annotation))}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    if annotation is dt.date:
        return "date"
    return str(getattr(annotation, "__name__", annotation))


def _constraints(info: FieldInfo) -> str:
    words = []
    for meta in info.metadata:
        for cls, attr, sign in (
            (annotated_types.Ge, "ge", ">="),
            (annotated_types.Gt, "gt", ">"),
            (annotated_types.Le, "le", "<="),
            (annotated_types.Lt, "lt", "<"),
        ):
            if isinstance(meta, cls):
                words.append(f"{sign} {getattr(meta, attr)}")
        if isinstance(meta, annotated_types.MinLen) and meta.min_length:
            unit = "character" if info.annotation is str else "item"
            words.append(f"at least {meta.min_length} {unit}{'s' if meta.min_length > 1 else ''}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            words.append(f"matches `{pattern}`")
    return ", ".join(words)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, dt.date):
        return f"`{value.isoformat()}`"
    return f"`{json.dumps(value)}`"


@cache
def _comments(model: type[BaseModel]) -> dict[str, str]:
    """``#:`` comments written right above a field of ``model``'s class body."""
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and pending:
            out[match.group(1)] = " ".join(pending)
        pending = []
    return out


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    """The field's ``description``; else its ``#:`` comment; else what an overridden base field says;
    else, for ``kind``, what it selects, and for a nested model, its docstring's first paragraph."""
    if info.description:
        return info.description
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name in inspect.get_annotations(cls):
            base = cls.model_fields.get(name)
            text = (base.description if base is not None else None) or _comments(cls).get(name, "")
            if text:
                return text
    if name == "kind":
        return "Selects this schema."
    sub = _model_of(info.annotation)
    if sub is not None and sub.__doc__ and "Usage docs:" not in sub.__doc__:
        return " ".join(sub.__doc__.strip().split("\n\n")[0].split())
    return ""


def _rows(model: type[BaseModel], prefix: str, skip: Callable[[str, FieldInfo], bool]) -> Iterator[str]:
    nested: list[tuple[str, type[BaseModel]]] = []
    # ``kind`` first: it selects the schema
    for name, info in sorted(model.model_fields.items(), key=lambda item: item[0] != "kind"):
        if skip(name, info):
            continue
        path = f"{prefix}{name}"
        kind = _type_name(info.annotation)
        limits = _constraints(info)
        cells = [
            f"`{path}`",
            _cell(kind + (f" ({limits})" if limits else "")),
            _cell(_default(info)),
            _cell(_description(model, name, info)),
        ]
        yield "| " + " | ".join(cells) + " |"
        sub = _model_of(info.annotation)
        if sub is not None:
            nested.append((path, sub))
    for path, sub in nested:
        is_list = "list[" in _type_name(model.model_fields[path.rsplit(".", 1)[-1]].annotation)
        yield from _rows_any(sub, f"{path}[]." if is_list else f"{path}.")


def _rows_any(model: type[BaseModel], prefix: str) -> Iterator[str]:
    return _rows(model, prefix, lambda n, i: False)


def config_reference(which: str) -> str:
    from airflow_ops.registry import KINDS
    from airflow_ops.schema import CommonConfig

    head = ["| key | type | default | description |", "|---|---|---|---|"]
    if which == "common":
        return "\n".join([*head, *_rows_any(CommonConfig, "")]) + "\n"
    if which not in KINDS:
        raise ValueError(
            f"section config-reference:{which}: no such kind (common or one of {', '.join(KINDS)})"
        )
    model = KINDS[which].schema()
    common = CommonConfig.model_fields

    def inherited(name: str, info: FieldInfo) -> bool:
        # A shared key appears here only when the kind changes it (another default or limits).
        base = common.get(name)
        return base is not None and repr(base) == repr(info)

    return "\n".join([*head, *_rows(model, "", inherited)]) + "\n"


#: section name -> generator; a name takes the argument after its colon
SECTIONS: dict[str, Generator] = {
    "metrics": metrics_table,
    "excluded-tables": excluded_tables,
    "support-matrix": support_matrix,
    "kind-doc": kind_doc,
    "config-reference": config_reference,
}


def required_sections() -> list[str]:
    """Every section that must appear in exactly one page, so no generated fact loses its home."""
    from airflow_ops.registry import KINDS

    return [
        "metrics",
        "excluded-tables",
        "support-matrix",
        "config-reference:common",
        *(f"config-reference:{k}" for k in KINDS),
        *(f"kind-doc:{k}" for k in KINDS),
    ]
