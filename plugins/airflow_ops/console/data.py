"""What the Maintenance page reads from the metadata DB: a fixed number of queries per page.

The api-server's own ORM session is used (the page runs in the api-server, not in a task). Five
queries whatever the number of runs: the maintenance DAGs, the latest run of each with its report,
the last success of each, every run in the window with its report (one outer join), and the latest
verified backups. A run without a report XCom, a report of another schema version or an undecodable
value all come back as ``report=None`` ("no data"), never as an error.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from airflow_ops.report import RunReport
from airflow_ops.steps import REPORT_KEY

MAINTENANCE_TAG = "maintenance"


@dataclass(frozen=True)
class DagInfo:
    dag_id: str
    is_paused: bool
    next_run: dt.datetime | None
    interval: dt.timedelta | None
    schedule: str | None


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    state: str | None
    run_after: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    report: RunReport | None

    @property
    def when(self) -> dt.datetime | None:
        """Where the run sits on a chart: when it was due (the window is filtered on it too)."""
        return self.run_after or self.start_date or self.end_date

    @property
    def finished(self) -> dt.datetime | None:
        return self.end_date or self.start_date or self.run_after

    @property
    def report_ended(self) -> dt.datetime | None:
        """When the report says the work ended (a backup's age counts from there), else ``finished``."""
        if self.report is not None:
            try:
                ended = dt.datetime.fromisoformat(self.report.ended_at)
            except (TypeError, ValueError):
                ended = None
            if ended is not None:
                return ended if ended.tzinfo else ended.replace(tzinfo=dt.UTC)
        return self.finished

    @property
    def duration_s(self) -> float | None:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


@dataclass(frozen=True)
class Snapshot:
    dags: list[DagInfo]
    latest: dict[str, RunInfo]
    last_success: dict[str, dt.datetime]
    window: list[RunInfo]
    latest_verified_backup: RunInfo | None


def decode_report(value: Any) -> RunReport | None:
    """A stored XCom value as a report, or ``None`` (missing, other schema, not a report)."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    return RunReport.from_dict(value)


def schedule_interval(
    summary: str | None, start: dt.datetime | None, end: dt.datetime | None
) -> dt.timedelta | None:
    """How often the DAG is due: its data interval, or (cron timetables in Airflow 3 have zero-length
    data intervals) the gap between two fire times of its cron expression; ``None`` for asset- or
    manually-triggered DAGs."""
    if start is not None and end is not None and end > start:
        return end - start
    if not summary:
        return None
    try:
        from croniter import croniter

        it = croniter(summary.strip(), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        first, second = it.get_next(dt.datetime), it.get_next(dt.datetime)
    except Exception:  # not a cron expression: "Asset", "None", a custom timetable's summary
        return None
    delta = second - first
    return delta if isinstance(delta, dt.timedelta) and delta > dt.timedelta(0) else None


def default_dag_ids() -> set[str]:
    from airflow_ops.registry import KINDS

    return {f"ops_{name}" for name in KINDS}


def load(session: Any, since: dt.datetime, allowed: set[str] | None = None) -> Snapshot:
    """Everything the page needs, in five queries. ``allowed``: the DAG ids the user may read."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy import and_, func, or_, select

    dag_rows = session.execute(
        select(
            DagModel.dag_id,
            DagModel.is_paused,
            DagModel.next_dagrun,
            DagModel.next_dagrun_data_interval_start,
            DagModel.next_dagrun_data_interval_end,
            DagModel.timetable_summary,
        )
        .outerjoin(DagTag, and_(DagTag.dag_id == DagModel.dag_id, DagTag.name == MAINTENANCE_TAG))
        .where(DagModel.is_stale.is_(False))
        .where(or_(DagTag.name.is_not(None), DagModel.dag_id.in_(sorted(default_dag_ids()))))
        .distinct()
        .order_by(DagModel.dag_id)
    ).all()
    dags = [
        DagInfo(
            dag_id=r.dag_id,
            is_paused=bool(r.is_paused),
            next_run=r.next_dagrun,
            interval=schedule_interval(
                r.timetable_summary, r.next_dagrun_data_interval_start, r.next_dagrun_data_interval_end
            ),
            schedule=r.timetable_summary,
        )
        for r in dag_rows
        if allowed is None or r.dag_id in allowed
    ]
    ids = [d.dag_id for d in dags]
    if not ids:
        return Snapshot([], {}, {}, [], None)

    report_join = and_(
        XComModel.dag_run_id == DagRun.id, XComModel.key == REPORT_KEY, XComModel.map_index == -1
    )
    run_cols = (
        DagRun.dag_id,
        DagRun.run_id,
        DagRun.state,
        DagRun.run_after,
        DagRun.start_date,
        DagRun.end_date,
        _report_value(session, XComModel.value),
    )

    ranked = (
        select(
            DagRun.id.label("id"),
            func.row_number()
            .over(partition_by=DagRun.dag_id, order_by=(DagRun.run_after.desc(), DagRun.id.desc()))
            .label("rn"),
        )
        .where(DagRun.dag_id.in_(ids))
        .subquery()
    )
    latest_rows = session.execute(
        select(*run_cols)
        .join(ranked, and_(ranked.c.id == DagRun.id, ranked.c.rn == 1))
        .outerjoin(XComModel, report_join)
    ).all()
    latest = {r.dag_id: _run(r) for r in latest_rows}

    success_rows = session.execute(
        select(DagRun.dag_id, func.max(func.coalesce(DagRun.end_date, DagRun.run_after)))
        .where(DagRun.dag_id.in_(ids), DagRun.state == "success")
        .group_by(DagRun.dag_id)
    ).all()
    last_success = {r[0]: r[1] for r in success_rows if r[1] is not None}

    # Charts need no start/end dates: fewer columns to convert on the query that returns every run.
    chart_cols = (
        DagRun.dag_id,
        DagRun.run_id,
        DagRun.state,
        DagRun.run_after,
        _report_value(session, XComModel.value),
    )
    window_rows = session.execute(
        select(*chart_cols)
        .outerjoin(XComModel, report_join)
        .where(DagRun.dag_id.in_(ids), DagRun.run_after >= since)
        .order_by(DagRun.run_after, DagRun.id)
    ).all()
    window = [_run(r) for r in window_rows]

    # The latest verified backup may be older than the window: look at the last successful backups.
    backup_ids = [d for d in ids if d in _backup_dag_ids(latest, window)] or [d for d in ids if "backup" in d]
    verified: RunInfo | None = None
    if backup_ids:
        backup_rows = session.execute(
            select(*run_cols)
            .join(XComModel, report_join)
            .where(DagRun.dag_id.in_(backup_ids), DagRun.state == "success")
            .order_by(DagRun.run_after.desc())
            .limit(50)
        ).all()
        for r in backup_rows:
            run = _run(r)
            if run.report and run.report.ok and run.report.metrics.get("verified") is True:
                verified = run
                break
    return Snapshot(dags, latest, last_success, window, verified)


def _report_value(session: Any, value: Any) -> Any:
    """The report column, without its ``rows`` and ``details`` (display tables the page never shows,
    the bulk of a large report) on PostgreSQL; a non-object JSON value is passed through whole."""
    from sqlalchemy import case, func

    if session.get_bind().dialect.name != "postgresql":
        return value.label("value")
    trimmed = value.op("-")("rows").op("-")("details")
    return case((func.jsonb_typeof(value) == "object", trimmed), else_=value).label("value")


def _backup_dag_ids(latest: dict[str, RunInfo], window: list[RunInfo]) -> set[str]:
    runs = [*latest.values(), *window]
    return {r.dag_id for r in runs if r.report is not None and r.report.kind == "metadata_backup"}


def _run(row: Any) -> RunInfo:
    state = row.state
    return RunInfo(
        dag_id=row.dag_id,
        run_id=row.run_id,
        state=str(getattr(state, "value", state)) if state is not None else None,
        run_after=row.run_after,
        start_date=getattr(row, "start_date", None),
        end_date=getattr(row, "end_date", None),
        report=decode_report(row.value),
    )
