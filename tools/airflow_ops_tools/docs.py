"""Sections of README.md generated from code, so a fact stated in code is not copied by hand.

``airflow-ops generate`` rewrites each ``<!-- generated:NAME -->`` ... ``<!-- /generated:NAME -->``
block of README.md; ``--check`` (``make test``) fails when one is stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def excluded_tables() -> str:
    from airflow_ops.dbclean.tables import EXCLUDED_TABLES

    lines = ["| table | why it is left out |", "|---|---|"]
    lines += [f"| `{t}` | {why} |" for t, why in EXCLUDED_TABLES.items()]
    return "\n".join(lines)


def report_metrics() -> str:
    from airflow_ops.registry import KINDS

    lines = ["| kind | metric | type | unit | meaning |", "|---|---|---|---|---|"]
    for kind in KINDS.values():
        lines += [f"| `{kind.name}` | `{m.name}` | {m.type} | {m.unit} | {m.help} |" for m in kind.metrics]
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[], str]] = {
    "excluded-tables": excluded_tables,
    "report-metrics": report_metrics,
}


def render_readme(text: str) -> str:
    """``text`` with every generated block replaced by its current content."""
    for name, make in SECTIONS.items():
        start, end = f"<!-- generated:{name} -->\n", f"<!-- /generated:{name} -->"
        pattern = re.compile(re.escape(start) + r"(?:.*?\n)?" + re.escape(end), re.DOTALL)
        block = start + make() + "\n" + end
        text = pattern.sub(lambda _m: block, text)  # noqa: B023 - used at once, inside this iteration
    return text
