"""What the Maintenance page reads from the metadata DB: a fixed number of queries per page.

The api-server's own ORM session is used (the page runs in the api-server, not in a task). Five
queries whatever the number of runs: the maintenance DAGs, the latest run of each with its report,
the last success of each, every run in the window with its report (one outer join), and the latest
verified backups. A run without a report XCom, a report of another schema version or an undecodable
value all come back as ``report=None`` ("no data"), never as an error.

The window can hold thousands of runs, so its rows are read lean: three columns of ``dag_run`` and
the report without the parts the charts never show, reduced to a :class:`ChartRun` (no
:class:`~airflow_ops.report.RunReport` per point) by :func:`chart_run`, which accepts exactly the
reports :func:`decode_report` accepts. On PostgreSQL a DAG with more than :data:`MAX_POINTS` runs in
the window is sampled in the query (:func:`_sampled_window`), so a frequent schedule costs the page
no more rows than the charts can show.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from airflow_ops.report import REPORT_KEY, SCHEMA_VERSION, Failure, RunReport

MAINTENANCE_TAG = "maintenance"
#: Points per chart series; a DAG with more runs in the window is sampled per time bucket.
MAX_POINTS = 400


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


class ChartRun(NamedTuple):
    """A run of the window as the charts need it (a tuple: there is one per point, thousands a page)."""

    dag_id: str
    run_id: str
    #: when the run was due (``run_after``): where it sits on a chart, and what the window filters on
    when: dt.datetime
    #: False: no data for this run (no report XCom, another schema version, not a report)
    report: bool = False
    kind: Any = None
    ok: bool = False
    #: the report names a failed step (``RunReport.failure`` is set)
    failed: bool = False
    metrics: Mapping[str, Any] = {}


@dataclass(frozen=True)
class Snapshot:
    dags: list[DagInfo]
    latest: dict[str, RunInfo]
    last_success: dict[str, dt.datetime]
    window: list[ChartRun]
    latest_verified_backup: RunInfo | None


def _stored_mapping(value: Any) -> Any:
    """An XCom value as stored: a JSON object, or (set through the REST API) a JSON string of one."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def decode_report(value: Any) -> RunReport | None:
    """A stored XCom value as a report, or ``None`` (missing, other schema, not a report)."""
    value = _stored_mapping(value)
    return None if value is None else RunReport.from_dict(value)


def _keys(cls: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(required, allowed) keyword names of a dataclass: what ``cls(**values)`` accepts."""
    from dataclasses import MISSING

    allowed = frozenset(f.name for f in fields(cls))
    required = frozenset(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
    return required, allowed


_REPORT_KEYS = _keys(RunReport)
_FAILURE_KEYS = _keys(Failure)


def chart_run(dag_id: str, run_id: str, when: dt.datetime, value: Any) -> ChartRun:
    """The window row of one run: ``report=True`` exactly when :func:`decode_report` would give a
    report (same schema version and key checks, without building one)."""
    data = _stored_mapping(value)
    if data is None or data.get("schema_version") != SCHEMA_VERSION:
        return ChartRun(dag_id, run_id, when)
    required, allowed = _REPORT_KEYS
    if not required <= data.keys() <= allowed:
        return ChartRun(dag_id, run_id, when)
    failure = data.get("failure")
    if failure and not (
        isinstance(failure, Mapping) and _FAILURE_KEYS[0] <= failure.keys() <= _FAILURE_KEYS[1]
    ):
        return ChartRun(dag_id, run_id, when)
    metrics = data.get("metrics")
    return ChartRun(
        dag_id,
        run_id,
        when,
        True,
        data["kind"],
        bool(data["ok"]),
        bool(failure),
        metrics if isinstance(metrics, Mapping) else {},
    )


def schedule_interval(
    summary: str | None, start: dt.datetime | None, end: dt.datetime | None
) -> dt.timedelta | None:
    """How often the DAG is due: its data interval, or (cron timetables in Airflow 3 have zero-length
    data intervals) the gap between two fire times of its cron expression; ``None`` for asset- or
    manually-triggered DAGs."""
    if start is not None and end is not None and end > start:
        return end - start
    return _cron_interval(summary) if summary else None


@functools.lru_cache(maxsize=256)
def _cron_interval(summary: str) -> dt.timedelta | None:
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
    from sqlalchemy import and_, func, or_, select, true

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

    # Each run's report through the XCom primary key (dag_run_id, task_id, map_index, key): a LATERAL
    # lookup is an index probe per run whatever the planner's statistics. A plain join planned on
    # stale statistics (a fresh or fast-growing table never analyzed) became a nested loop over
    # every report for every run: 1 s for a year of history.
    report = _report_lookup(XComModel, DagRun, _report_value(session, XComModel.value))
    run_cols = (
        DagRun.dag_id,
        DagRun.run_id,
        DagRun.state,
        DagRun.run_after,
        DagRun.start_date,
        DagRun.end_date,
        report.c.value,
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
        .outerjoin(report, true())
    ).all()
    latest = {r.dag_id: _run(r) for r in latest_rows}

    success_rows = session.execute(
        select(DagRun.dag_id, func.max(func.coalesce(DagRun.end_date, DagRun.run_after)))
        .where(DagRun.dag_id.in_(ids), DagRun.state == "success")
        .group_by(DagRun.dag_id)
    ).all()
    last_success = {r[0]: r[1] for r in success_rows if r[1] is not None}

    # The runs of the window: three columns and the report without what no chart reads; on PostgreSQL
    # sampled per time bucket when a DAG has more than MAX_POINTS of them (see _sampled_window).
    lean_value = _report_text(session, XComModel.value)
    if session.get_bind().dialect.name == "postgresql":
        runs = _sampled_window(DagRun, ids, since, dt.datetime.now(dt.UTC))
    else:
        runs = (
            select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.run_after)
            .where(DagRun.dag_id.in_(ids), DagRun.run_after >= since)
            .subquery("runs")
        )
    lean = _report_lookup(XComModel, runs.c, lean_value)
    window_rows = session.execute(
        select(runs.c.dag_id, runs.c.run_id, runs.c.run_after, lean.c.value)
        .outerjoin(lean, true())
        .order_by(runs.c.run_after, runs.c.id)
    ).all()
    window = [chart_run(*r) for r in window_rows]

    # The latest verified backup may be older than the window: look at the last successful backups.
    backup_ids = [d for d in ids if d in _backup_dag_ids(latest, window)] or [d for d in ids if "backup" in d]
    verified: RunInfo | None = None
    if backup_ids:
        backup_rows = session.execute(
            select(*run_cols)
            .join(report, true())
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


#: Report keys the page never shows (display tables, the bulk of a large report), and those only the
#: DAG table and attention list show (not the charts). All optional: dropping them never changes
#: whether a value decodes as a report.
_NEVER_SHOWN = ("rows", "details")
_NOT_CHARTED = ("warnings", "headline")


def _report_lookup(xcom: Any, dag_run: Any, value: Any) -> Any:
    """``LATERAL (SELECT <value> FROM xcom WHERE <the run's report> LIMIT 1)``, to join ``ON true``."""
    from sqlalchemy import select

    return (
        select(value)
        .where(xcom.dag_run_id == dag_run.id, xcom.map_index == -1, xcom.key == REPORT_KEY)
        .order_by(xcom.task_id)
        .limit(1)
        .lateral("report")
    )


def _report_value(session: Any, value: Any) -> Any:
    """The report column without :data:`_NEVER_SHOWN` on PostgreSQL; a non-object JSON value (a JSON
    string set through the REST API) is passed whole."""
    from sqlalchemy import case, func

    if session.get_bind().dialect.name != "postgresql":
        return value.label("value")
    trimmed = value
    for key in _NEVER_SHOWN:
        trimmed = trimmed.op("-")(key)
    return case((func.jsonb_typeof(value) == "object", trimmed), else_=value).label("value")


def _report_text(session: Any, value: Any) -> Any:
    """The window's report column on PostgreSQL as JSON text, parsed once by :func:`chart_run`: an
    object without :data:`_NEVER_SHOWN` and :data:`_NOT_CHARTED`, a JSON string (set through the REST
    API) as its content, anything else as is. Elsewhere the JSON column itself."""
    from sqlalchemy import Text, case, cast, func, literal_column

    if session.get_bind().dialect.name != "postgresql":
        return value.label("value")
    trimmed = value
    for key in _NEVER_SHOWN + _NOT_CHARTED:
        trimmed = trimmed.op("-")(key)
    kind = func.jsonb_typeof(value)
    return case(
        (kind == "object", cast(trimmed, Text)),
        (kind == "string", value.op("#>>", return_type=Text)(literal_column("'{}'::text[]"))),
        else_=cast(value, Text),
    ).label("value")


def _sampled_window(dag_run: Any, ids: list[str], since: dt.datetime, now: dt.datetime) -> Any:
    """The window's runs as a subquery (``id, dag_id, run_id, run_after``), bounded per DAG.

    A DAG with at most :data:`MAX_POINTS` runs in the window keeps them all. One with more (a probe
    every 5 minutes is 105,000 runs a year) keeps, in each of :data:`MAX_POINTS` equal time buckets,
    its latest run and its latest failed one: a critical verdict fails the probe's run (its
    ``fail_on``), so a critical point never hides. The ranking reads ``dag_run`` alone, in one scan
    and sort whatever the table's statistics (no report per run, no join a stale plan could turn
    into a loop); the kept runs are joined back by primary key. So the page reads at most
    ``2 * MAX_POINTS`` runs and reports per DAG whatever the schedule, and the charts thin them as
    before.
    """
    from sqlalchemy import BigInteger, case, cast, func, literal, select

    bucket_s = max((now - since).total_seconds() / MAX_POINTS, 1.0)
    age_s = func.extract("epoch", dag_run.run_after - literal(since))
    bucket = cast(func.floor(age_s / bucket_s), BigInteger)
    in_bucket = (dag_run.dag_id, bucket)
    failed = dag_run.state == "failed"
    ranked = (  # one sort serves all three window functions
        select(
            dag_run.id,
            dag_run.run_after,
            case((failed, True), else_=False).label("failed"),
            func.count().over(partition_by=dag_run.dag_id).label("n"),
            func.row_number()
            .over(partition_by=in_bucket, order_by=(dag_run.run_after.desc(), dag_run.id.desc()))
            .label("latest"),
            func.max(dag_run.run_after).filter(failed).over(partition_by=in_bucket).label("failed_at"),
        )
        .where(dag_run.dag_id.in_(ids), dag_run.run_after >= since)
        .subquery("ranked")
    )
    c = ranked.c
    return (
        select(dag_run.id, dag_run.dag_id, dag_run.run_id, dag_run.run_after)
        .join(ranked, c.id == dag_run.id)
        .where((c.n <= MAX_POINTS) | (c.latest == 1) | (c.failed & (c.run_after == c.failed_at)))
        .subquery("runs")
    )


def _backup_dag_ids(latest: dict[str, RunInfo], window: list[ChartRun]) -> set[str]:
    kinds = {r.dag_id for r in latest.values() if r.report is not None and r.report.kind == "metadata_backup"}
    return kinds | {r.dag_id for r in window if r.report and r.kind == "metadata_backup"}


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
