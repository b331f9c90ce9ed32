"""README sections generated from code, so a fact stated in code is not copied by hand.

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
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL
        )
        text = pattern.sub(lambda m, body=make(): m.group(1) + body + "\n" + m.group(2), text)
    return text
