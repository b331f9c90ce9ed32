"""The run report every maintenance DAG ends with, and its fixed, versioned schema.

One :class:`RunReport` per run, whatever the kind or the mode. The top level is the same for
every kind (``kind``, ``dag_id``, ``run_id``, ``mode``, ``ok``, ``started_at``, ``ended_at``,
``duration_s``, ``warnings``); ``metrics`` holds the kind's typed, snake_case headline numbers,
declared once per kind as :class:`~airflow_ops.metric.Metric` rows (``airflow_ops.kinds.<kind>.METRICS``).
The XCom payload, the log table and the DAG run note all render from it; the Maintenance page and the
metrics (:mod:`airflow_ops.metrics`, Airflow's StatsD/OpenTelemetry facade) read it. The keys never
change with the mode: a dry run reports what it *would* do under the same names, with ``mode: dry_run``.

The report is data: publishing it (the log table, the metrics, the run note) is the report step's
job (:func:`airflow_ops.steps.publish`).

A report holds only counts, sizes, keys and verdicts: never secret values. As a second line of
defence every way out of a report (:meth:`RunReport.to_dict` for XCom, :meth:`RunReport.render_table`
for the task log, :meth:`RunReport.render_note` for the run note, :meth:`RunReport.status`) passes its
text through the one redactor (:mod:`airflow_ops.redact`), so a URL password or a registered secret
carried by a failure reason, a warning, a detail or a row never reaches them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from airflow_ops.metric import Metric
from airflow_ops.redact import redact, redact_data

#: Bumped when a top-level field or a metric's meaning changes; readers treat other versions as no data.
SCHEMA_VERSION = 1
Mode = Literal["dry_run", "apply"]
_PY_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,)}
NOTE_LIMIT = 1000  # the REST API's cap on a DAG run note
#: The XCom key the report step pushes the payload under (the Maintenance page reads it).
REPORT_KEY = "report"


@dataclass(frozen=True)
class Failure:
    """Where a run stopped: the step, its one-line reason, what was done and what was not."""

    step: str
    reason: str
    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    kind: str
    dag_id: str
    run_id: str
    title: str
    mode: Mode
    ok: bool
    started_at: str
    ended_at: str
    duration_s: float
    #: The headline figures in words, e.g. ``backup 12.3 MB verified, 9.5 s``: the note's first line.
    headline: str = ""
    metrics: dict[str, int | float | bool | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Human-readable label -> value lines, in display order (the log table and the note).
    details: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    failure: Failure | None = None
    #: The Airflow release the run ran on (``airflow_ops.compat.airflow_version``); empty in old reports.
    airflow_version: str = ""
    schema_version: int = SCHEMA_VERSION

    # -- rendering ------------------------------------------------------------------------------
    def redacted(self) -> RunReport:
        """A copy whose every string (failure, warnings, details, rows, headline...) is redacted."""
        failure = self.failure
        if failure is not None:
            failure = Failure(**redact_data(asdict(failure)))
        return replace(
            self,
            title=redact(self.title),
            headline=redact(self.headline),
            warnings=redact_data(list(self.warnings)),
            details=redact_data(dict(self.details)),
            rows=redact_data(list(self.rows)),
            failure=failure,
        )

    def status(self) -> str:
        """``OK``, ``OK, 1 warning: <first warning>``, ``FAILED at <step>: <reason>`` (redacted)."""
        return redact(self._status())

    def _status(self) -> str:
        if self.failure is not None:
            return f"FAILED at {self.failure.step}: {self.failure.reason}"
        if not self.ok:
            return "FAILED" + (f": {self.warnings[0]}" if self.warnings else "")
        if self.warnings:
            n = len(self.warnings)
            return f"OK, {n} warning{'s' if n > 1 else ''}: {self.warnings[0]}"
        return "OK"

    def first_line(self) -> str:
        dry = " (dry run)" if self.mode == "dry_run" else ""
        line = f"{self.title}{dry}: {self._status()}"
        return redact(f"{line} | {self.headline}" if self.headline else line)

    def render_table(self) -> str:
        """A short, fixed-width table for the task log: status, warnings, figures, rows (redacted)."""
        return self.redacted()._render_table()

    def _render_table(self) -> str:
        lines = [f"== {self.first_line()} ({self.dag_id} / {self.run_id}) =="]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        if self.failure is not None:
            lines.append(f"  done: {', '.join(self.failure.done) or 'nothing'}")
            lines.append(f"  not done: {', '.join(self.failure.not_done) or 'nothing'}")
        shown = {
            "mode": self.mode,
            "duration_s": self.duration_s,
            "airflow": self.airflow_version,
            **self.details,
        }
        width = max(len(k) for k in shown)
        lines += [f"  {k.ljust(width)}  {_fmt(v)}" for k, v in shown.items()]
        if self.rows:
            cols = list(dict.fromkeys(k for row in self.rows for k in row))
            widths = {c: max(len(c), *(len(_fmt(r.get(c, ""))) for r in self.rows)) for c in cols}
            lines.append("  " + "  ".join(c.ljust(widths[c]) for c in cols))
            lines.append("  " + "  ".join("-" * widths[c] for c in cols))
            lines += ["  " + "  ".join(_fmt(r.get(c, "")).ljust(widths[c]) for c in cols) for r in self.rows]
        return "\n".join(lines)

    def render_note(self, limit: int = NOTE_LIMIT) -> str:
        """Markdown for the DAG run note. The UI shows the first line; warnings come next and are kept
        whole when the note is cut (details are dropped from the end first). Redacted before it is
        cut, so a cut never leaves part of a secret behind."""
        return self.redacted()._render_note(limit)

    def _render_note(self, limit: int) -> str:
        head = [f"**{self.first_line()}**", ""]
        head += [f"- ⚠ {w}" for w in self.warnings]
        if self.failure is not None:
            head.append(f"- done: {', '.join(self.failure.done) or 'nothing'}")
            head.append(f"- not done: {', '.join(self.failure.not_done) or 'nothing'}")
        tail = [f"- duration: {_fmt(self.duration_s)} s", f"- airflow: {self.airflow_version}"] + [
            f"- {k}: {_fmt(v)}" for k, v in self.details.items()
        ]
        text = "\n".join(head)
        if len(text) > limit:
            return text[: limit - 1] + "…"
        for line in tail:
            if len(text) + 1 + len(line) > limit - 2:
                return text + "\n…"
            text += "\n" + line
        return text

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The XCom payload, every string in it redacted."""
        return asdict(self.redacted())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport | None:
        """A report read back from XCom, or ``None`` for another schema version or a non-report."""
        if not isinstance(data, Mapping) or data.get("schema_version") != SCHEMA_VERSION:
            return None
        try:
            values = dict(data)
            failure = values.pop("failure", None)
            return cls(**values, failure=Failure(**failure) if failure else None)
        except TypeError:
            return None


def check_metrics(report: RunReport, declared: Sequence[Metric]) -> list[str]:
    """Every problem of ``report.metrics`` against the kind's declaration (empty when it conforms)."""
    problems: list[str] = []
    names = {m.name for m in declared}
    for key in report.metrics:
        if key not in names:
            problems.append(f"{report.kind}: metric {key!r} is not declared")
    for metric in declared:
        if metric.name not in report.metrics:
            problems.append(f"{report.kind}: metric {metric.name!r} is missing (use None for 'not measured')")
            continue
        value = report.metrics[metric.name]
        want = _PY_TYPES[metric.value_type]
        if value is not None and (
            not isinstance(value, want) or (metric.value_type != "bool" and isinstance(value, bool))
        ):
            problems.append(
                f"{report.kind}: metric {metric.name!r} should be {metric.value_type}, got {value!r}"
            )
    return problems


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return str(value)


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
