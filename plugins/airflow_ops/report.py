"""The run report every maintenance DAG ends with: JSON in XCom, a table in the log, a DAG run note.

A report holds only counts, sizes, keys and verdicts: never secret values.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    dag_id: str
    run_id: str
    title: str
    ok: bool = True
    summary: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render_table(self) -> str:
        """A short, fixed-width table for the task log."""
        lines = [f"== {self.title}: {'OK' if self.ok else 'FAILED'} ({self.dag_id} / {self.run_id}) =="]
        width = max((len(k) for k in self.summary), default=0)
        lines += [f"  {k.ljust(width)}  {_fmt(v)}" for k, v in self.summary.items()]
        if self.rows:
            cols = list(dict.fromkeys(k for row in self.rows for k in row))
            widths = {c: max(len(c), *(len(_fmt(r.get(c, ""))) for r in self.rows)) for c in cols}
            lines.append("  " + "  ".join(c.ljust(widths[c]) for c in cols))
            lines.append("  " + "  ".join("-" * widths[c] for c in cols))
            lines += ["  " + "  ".join(_fmt(r.get(c, "")).ljust(widths[c]) for c in cols) for r in self.rows]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def render_note(self, limit: int = 1000) -> str:
        """Markdown for the DAG run note (the API caps notes at 1000 characters)."""
        parts = [f"**{self.title}: {'OK' if self.ok else 'FAILED'}**", ""]
        parts += [f"- {k}: {_fmt(v)}" for k, v in self.summary.items()]
        parts += [f"- ⚠ {w}" for w in self.warnings]
        text = "\n".join(parts)
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return str(value)


def publish(report: RunReport, note_conn_id: str | None) -> dict[str, Any]:
    """Log the table, set the DAG run note when an API connection exists, return the XCom payload."""
    log.info("Run report\n%s", report.render_table())
    if note_conn_id:
        _set_note(report, note_conn_id)
    return report.to_dict()


def _set_note(report: RunReport, conn_id: str) -> None:
    from airflow_ops.api_client import AirflowApi, ApiError
    from airflow_ops.connections import get_connection
    from airflow_ops.exceptions import MissingConnectionError

    try:
        api = AirflowApi.from_connection(get_connection(conn_id, "REST API for DAG run notes"))
        api.set_dag_run_note(report.dag_id, report.run_id, report.render_note())
    except MissingConnectionError as exc:
        log.info("Run note not written: %s", exc)
    except ApiError as exc:
        log.warning("Run note not written (the report is still in XCom and this log): %s", exc)
