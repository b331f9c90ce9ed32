"""The Maintenance page from a :class:`~airflow_ops.console.data.Snapshot`: attention list, DAG table,
inline SVG charts. Pure functions (no Airflow, no DB): everything here is unit-testable.

Charts are SVG generated here, so nothing is fetched from anywhere; CSS is inline. Only report
figures, headlines, warnings and failure reasons reach the page (reports never hold secret values),
each escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from airflow_ops.console.data import MAX_POINTS, ChartRun, DagInfo, RunInfo, Snapshot
from airflow_ops.report import RunReport

WINDOWS = (7, 30, 90, 365)
DEFAULT_WINDOW = 30


@dataclass(frozen=True)
class Thresholds:
    """The attention list's limits; the defaults are the ``[airflow_ops]`` options' (:data:`OPTIONS`)."""

    backup_max_age_hours: float = 36.0
    log_free_min_pct: float = 10.0
    #: options that were set but unusable (the default is used instead): shown first in the attention list
    errors: tuple[str, ...] = ()


#: The ``[airflow_ops]`` options the page reads (airflow.cfg or ``AIRFLOW__AIRFLOW_OPS__<OPTION>``,
#: on the api-server), each setting the :class:`Thresholds` field named here. airflow.cfg.template
#: renders them, and the cfg schema check knows them, from this table.
OPTIONS: dict[str, str] = {
    "console_backup_max_age_hours": "backup_max_age_hours",
    "console_log_free_min_pct": "log_free_min_pct",
}


def option_defaults() -> dict[str, float]:
    """``{option: default}`` of :data:`OPTIONS`."""
    defaults = Thresholds()
    return {option: float(getattr(defaults, field)) for option, field in OPTIONS.items()}


@dataclass(frozen=True)
class Problem:
    dag_id: str
    code: str
    text: str


@dataclass
class Point:
    when: dt.datetime
    run_id: str
    value: float | None  # None: no data for this run (missing XCom, older schema, failed early)
    label: str = ""


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    kind: str
    empty: str
    points: list[Point] = field(default_factory=list)
    timeline: bool = False


def dag_kinds(snap: Snapshot) -> dict[str, str | None]:
    """Each DAG's kind: its latest run's report's, else its first report's in the window, else from
    the ``ops_<kind>`` name (one pass over the window)."""
    found: dict[str, Any] = {d: r.report.kind for d, r in snap.latest.items() if r.report is not None}
    wanted = {d.dag_id for d in snap.dags} - found.keys()
    for run in snap.window:
        if not wanted:
            break
        if run.report and run.dag_id in wanted:
            found[run.dag_id] = run.kind
            wanted.discard(run.dag_id)
    return {
        d.dag_id: found[d.dag_id]
        if d.dag_id in found
        else (d.dag_id[4:] if d.dag_id.startswith("ops_") else None)
        for d in snap.dags
    }


def attention(snap: Snapshot, now: dt.datetime, limits: Thresholds) -> list[Problem]:
    problems = [Problem("", "config", error) for error in limits.errors]
    kinds = dag_kinds(snap)
    for dag in snap.dags:
        last = snap.latest.get(dag.dag_id)
        if dag.is_paused:
            problems.append(Problem(dag.dag_id, "paused", f"{dag.dag_id} is paused"))
        if last is not None and last.state == "failed":
            why = ""
            if last.report is not None and last.report.failure is not None:
                why = f": {last.report.failure.step}: {last.report.failure.reason}"
            problems.append(
                Problem(dag.dag_id, "failed", f"{dag.dag_id}: last run {last.run_id} failed{why}")
            )
        if dag.interval is not None and dag.interval > dt.timedelta(0):
            ok_at = snap.last_success.get(dag.dag_id)
            if ok_at is None:
                problems.append(
                    Problem(
                        dag.dag_id, "stale", f"{dag.dag_id}: no successful run yet (trigger {dag.dag_id})"
                    )
                )
            elif now - ok_at > 2 * dag.interval:
                problems.append(
                    Problem(
                        dag.dag_id,
                        "stale",
                        f"{dag.dag_id}: no success for {_age(now - ok_at)} "
                        f"(more than twice its {_age(dag.interval)} interval)",
                    )
                )
        if kinds[dag.dag_id] == "health_probe" and last is not None and last.report is not None:
            problems += _health_problems(dag.dag_id, last.report, limits)
    backup_dags = [d.dag_id for d in snap.dags if kinds[d.dag_id] == "metadata_backup"]
    if backup_dags:
        verified = snap.latest_verified_backup
        verified_at = verified.report_ended if verified is not None else None
        if verified is None or verified_at is None:
            problems.append(
                Problem(backup_dags[0], "backup_age", f"no verified backup yet (trigger {backup_dags[0]})")
            )
        else:
            age = now - verified_at
            if age > dt.timedelta(hours=limits.backup_max_age_hours):
                problems.append(
                    Problem(
                        verified.dag_id,
                        "backup_age",
                        f"latest verified backup is {_age(age)} old "
                        f"(limit {limits.backup_max_age_hours:g} h, run {verified.run_id})",
                    )
                )
    return problems


def _health_problems(dag_id: str, report: RunReport, limits: Thresholds) -> list[Problem]:
    out: list[Problem] = []
    critical = report.metrics.get("critical")
    if isinstance(critical, int | float) and critical > 0:
        detail = "; ".join(report.warnings[:3])
        out.append(
            Problem(
                dag_id,
                "health_critical",
                f"{dag_id}: {int(critical)} critical health check(s)" + (f": {detail}" if detail else ""),
            )
        )
    free = report.metrics.get("log_volume_free_pct")
    if isinstance(free, int | float) and not isinstance(free, bool) and free < limits.log_free_min_pct:
        out.append(
            Problem(
                dag_id,
                "log_volume",
                f"log volume nearly full: {free:.1f}% free (limit {limits.log_free_min_pct:g}%)",
            )
        )
    return out


def _age(delta: dt.timedelta) -> str:
    s = delta.total_seconds()
    if s >= 2 * 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.0f} min"


# -- charts ------------------------------------------------------------------------------------
def _metric(name: str, scale: float = 1.0) -> Callable[[ChartRun], float | None]:
    def get(run: ChartRun) -> float | None:
        value = run.metrics.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) / scale

    return get


def _verdict(run: ChartRun) -> float | None:
    crit, warn = run.metrics.get("critical"), run.metrics.get("warning")
    if isinstance(crit, int | float) and crit > 0:
        return 2.0
    if not run.ok and run.failed:
        return 2.0
    if isinstance(warn, int | float) and warn > 0:
        return 1.0
    return 0.0


CHART_SPECS: tuple[tuple[str, str, str, str, Callable[[ChartRun], float | None], str], ...] = (
    ("backup-size", "Backup size", "MB", "metadata_backup", _metric("backup_bytes", 1e6), "backup"),
    ("backup-duration", "Backup duration", "s", "metadata_backup", _metric("dump_seconds"), "backup"),
    (
        "db-size",
        "Metadata DB size",
        "MB",
        "health_probe",
        _metric("metadata_db_size_bytes", 1e6),
        "health probe",
    ),
    ("rows-purged", "Rows purged per run", "rows", "db_cleanup", _metric("rows_purged"), "DB cleanup"),
    ("log-freed", "Log bytes freed per run", "MB", "log_cleanup", _metric("bytes_freed", 1e6), "log cleanup"),
    ("log-free", "Free log space", "GB", "log_cleanup", _metric("free_bytes_min", 1e9), "log cleanup"),
    ("export-changes", "Export changes", "changes", "config_export", _metric("changes"), "config export"),
)
VERDICTS = {0.0: "ok", 1.0: "warning", 2.0: "critical"}


def charts(snap: Snapshot) -> list[Chart]:
    kinds = dag_kinds(snap)
    by_kind: dict[str, list[ChartRun]] = {}
    for run in snap.window:
        kind = run.kind if run.report else kinds.get(run.dag_id)
        if kind:
            by_kind.setdefault(kind, []).append(run)
    dag_for = {k: d for d, k in sorted(kinds.items(), reverse=True) if k}
    out: list[Chart] = []
    for chart_id, title, unit, kind, get, what in CHART_SPECS:
        dag = dag_for.get(kind, f"ops_{kind}")
        chart = Chart(chart_id, title, unit, kind, f"no {what} run in this window yet, trigger {dag}")
        chart.points = _points(by_kind.get(kind, []), get)
        out.append(chart)
    dag = dag_for.get("health_probe", "ops_health_probe")
    timeline = Chart(
        "health-verdicts",
        "Health verdicts",
        "",
        "health_probe",
        f"no health probe run in this window yet, trigger {dag}",
        timeline=True,
    )
    timeline.points = _points(by_kind.get("health_probe", []), _verdict)
    for p in timeline.points:
        p.label = VERDICTS.get(p.value, "no data") if p.value is not None else "no data"
    out.append(timeline)
    return out


def _points(runs: list[ChartRun], get: Callable[[ChartRun], float | None]) -> list[Point]:
    return [Point(r.when, r.run_id, get(r) if r.report else None) for r in runs]


def _thin(points: list[Point], limit: int = MAX_POINTS) -> list[Point]:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def _worst(points: list[Point], limit: int = MAX_POINTS) -> list[Point]:
    """Thin a verdict timeline keeping the worst verdict of each bucket (a critical run never hides)."""
    if len(points) <= limit:
        return points
    rank = {2.0: 3.0, 1.0: 2.0, None: 1.0, 0.0: 0.0}
    step = len(points) / limit
    out: list[Point] = []
    for i in range(limit):
        bucket = points[int(i * step) : int((i + 1) * step)] or [points[-1]]
        out.append(max(bucket, key=lambda p: rank.get(p.value, 0.0)))
    return out


# -- rendering ---------------------------------------------------------------------------------
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 170, 56, 12, 12, 28


def svg_chart(chart: Chart, since: dt.datetime, now: dt.datetime) -> str:
    pts = _worst(chart.points) if chart.timeline else _thin(chart.points)
    span = max((now - since).total_seconds(), 1.0)

    def x(when: dt.datetime) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * min(max((when - since).total_seconds() / span, 0.0), 1.0)

    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(chart.title)}">',
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" class="axis"/>',
        f'<text x="{PAD_L}" y="{H - 8}" class="tick">{since:%Y-%m-%d}</text>',
        f'<text x="{W - PAD_R}" y="{H - 8}" class="tick" text-anchor="end">{now:%Y-%m-%d}</text>',
    ]
    if chart.timeline:
        colors = {"ok": "#2e7d32", "warning": "#f9a825", "critical": "#c62828", "no data": "#9e9e9e"}
        mid = PAD_T + (H - PAD_T - PAD_B) / 2
        for p in pts:
            cls = p.label.replace(" ", "-")
            when, run = _tip(p.when, p.run_id)
            parts.append(
                f'<rect class="point verdict-{cls}" data-run="{run}" data-verdict="{p.label}" '
                f'x="{x(p.when) - 3:.1f}" y="{mid - 20:.1f}" width="6" height="40" fill="{colors[p.label]}">'
                f"<title>{when} {run}: {p.label}</title></rect>"
            )
        for i, (name, color) in enumerate(colors.items()):
            lx = PAD_L + i * 80
            parts.append(
                f'<rect x="{lx}" y="{PAD_T}" width="10" height="10" fill="{color}"/>'
                f'<text x="{lx + 14}" y="{PAD_T + 9}" class="tick">{name}</text>'
            )
    else:
        values = [p.value for p in pts if p.value is not None]
        top = max(values) if values else 1.0
        top = top * 1.1 if top > 0 else 1.0
        base = H - PAD_B

        parts.append(
            f'<text x="{PAD_L - 4}" y="{PAD_T + 8}" class="tick" text-anchor="end">{_num(top)}</text>'
        )
        parts.append(f'<text x="{PAD_L - 4}" y="{base}" class="tick" text-anchor="end">0</text>')
        # Each point's position once (the line and the point's own mark share it).
        coords = [
            (p, x(p.when), None if p.value is None else base - (H - PAD_T - PAD_B) * max(p.value, 0.0) / top)
            for p in pts
        ]
        line = " ".join(f"{px:.1f},{py:.1f}" for _, px, py in coords if py is not None)
        if line:
            parts.append(f'<polyline class="series" points="{line}" fill="none" stroke="#1565c0"/>')
        unit = escape(chart.unit)
        for p, px, py in coords:
            when, run = _tip(p.when, p.run_id)
            if py is None or p.value is None:
                parts.append(
                    f'<text class="point nodata" data-run="{run}" x="{px:.1f}" '
                    f'y="{base - 3}" text-anchor="middle" fill="#9e9e9e">&#215;'
                    f"<title>{when} {run}: no data</title></text>"
                )
            else:
                parts.append(
                    f'<circle class="point" data-run="{run}" data-value="{p.value:g}" '
                    f'cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#1565c0">'
                    f"<title>{when} {run}: {_num(p.value)} {unit}</title></circle>"
                )
    parts.append("</svg>")
    return "".join(parts)


@functools.lru_cache(maxsize=8192)
def _tip(when: dt.datetime, run_id: str) -> tuple[str, str]:
    """A point's time as shown and its escaped run id (a run sits on several charts)."""
    return f"{when:%Y-%m-%d %H:%M}", escape(run_id)


def _num(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _ts(when: dt.datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC" if when else "—"


def _dag_row(dag: DagInfo, last: RunInfo | None) -> str:
    state = last.state if last else None
    headline = ""
    if last is not None:
        headline = last.report.headline if last.report is not None else "no data (no report for this run)"
    duration = last.duration_s if last else None
    cells = [
        f'<td><a href="/dags/{escape(dag.dag_id)}" target="_top">{escape(dag.dag_id)}</a></td>',
        f'<td class="paused">{"paused" if dag.is_paused else "active"}</td>',
        f'<td class="state state-{escape(state or "none")}">{escape(state or "no run yet")}</td>',
        f"<td>{_ts(last.finished if last else None)}</td>",
        f"<td>{f'{duration:.1f} s' if duration is not None else '—'}</td>",
        f"<td>{_ts(dag.next_run)}{f' ({escape(dag.schedule)})' if dag.schedule else ''}</td>",
        f'<td class="headline">{escape(headline)}</td>',
    ]
    return f'<tr data-dag-id="{escape(dag.dag_id)}">{"".join(cells)}</tr>'


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#212121;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:16px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e0e0e0;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.state-failed{color:#c62828;font-weight:600}.state-success{color:#2e7d32}
#attention{border:1px solid #ef9a9a;background:#ffebee;padding:8px 12px 8px 28px;margin:0}
#attention.clear{border-color:#a5d6a7;background:#e8f5e9;list-style:none;padding-left:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #e0e0e0;padding:8px;border-radius:4px}
.chart h3{font-size:14px;margin:0 0 4px}.empty{color:#616161;font-style:italic;margin:4px 0}
.axis{stroke:#9e9e9e}.tick{font-size:10px;fill:#616161}.series{stroke-width:1.5}
.window a{margin-right:8px}.window a.current{font-weight:700;text-decoration:none;color:#212121}
.muted{color:#757575;font-size:12px}
"""


def render(
    snap: Snapshot,
    *,
    now: dt.datetime,
    days: int,
    limits: Thresholds,
    username: str,
    airflow_version: str = "",
) -> str:
    since = now - dt.timedelta(days=days)
    problems = attention(snap, now, limits)
    chart_list = charts(snap)
    on = (
        f', on <span id="airflow-version">Airflow {escape(airflow_version)}</span>' if airflow_version else ""
    )
    out: list[str] = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Maintenance · airflow-ops</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Maintenance</h1>",
        f'<p class="muted">As of {_ts(now)}, signed in as {escape(username)}{on}. '
        f"Backup age limit {limits.backup_max_age_hours:g} h, log volume free limit "
        f"{limits.log_free_min_pct:g}%.</p>",
        "<h2>Attention</h2>",
    ]
    items = [
        f'<li class="attention-item" data-dag="{escape(p.dag_id)}" data-problem="{p.code}">'
        f"{escape(p.text)}</li>"
        for p in problems
    ]
    if not snap.dags:
        items.append(
            '<li class="attention-item" data-problem="no_dags">No maintenance DAG found (tag '
            "<code>maintenance</code>): deploy dags/ and wait for the DAG processor.</li>"
        )
    if items:
        out += ['<ul id="attention">', *items, "</ul>"]
    else:
        out.append('<ul id="attention" class="clear"><li>Nothing needs attention.</li></ul>')
    out.append(
        '<h2>DAGs</h2><table id="dags"><thead><tr><th>DAG</th><th>Paused</th><th>Last run</th>'
        "<th>Finished</th><th>Duration</th><th>Next run</th><th>Headline</th></tr></thead><tbody>"
    )
    out += [_dag_row(d, snap.latest.get(d.dag_id)) for d in snap.dags]
    out.append("</tbody></table>")
    links = " ".join(
        f'<a href="?days={d}"{" class=current" if d == days else ""}>{d} days</a>' for d in WINDOWS
    )
    out.append(f'<h2>History</h2><p class="window">Window: {links}</p><div class="charts">')
    for chart in chart_list:
        unit = f" ({escape(chart.unit)})" if chart.unit else ""
        nodata = sum(1 for p in chart.points if p.value is None)
        out.append(
            f'<section class="chart" id="chart-{chart.id}" data-points="{len(chart.points)}" '
            f'data-nodata="{nodata}"><h3>{escape(chart.title)}{unit}</h3>'
        )
        if not chart.points:
            out.append(f'<p class="empty">{escape(chart.empty)}</p>')
        else:
            if nodata:
                out.append(f'<p class="muted">{nodata} run(s) with no data (no report or older schema)</p>')
            out.append(svg_chart(chart, since, now))
        out.append("</section>")
    out.append("</div></body></html>")
    return "".join(out)


def parse_days(raw: Iterable[str] | str | None) -> int:
    try:
        value = int(raw) if isinstance(raw, str) else DEFAULT_WINDOW
    except ValueError:
        return DEFAULT_WINDOW
    return min(max(value, 1), 366)
