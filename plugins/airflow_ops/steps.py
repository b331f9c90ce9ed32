"""``MaintenanceStep``: the one operator the bundle's DAGs declare, and the :class:`Run` it hands a step.

A step is a plain function of a kind's ``tasks`` module, ``func(cfg, run, **upstream)``: ``cfg`` is
the kind's validated config, ``run`` the :class:`Run` (dates, params, ids), and each keyword is the
result of an upstream step, wired by passing the upstream *operator* (not a task-id string) to
:func:`step`. A typo is therefore a ``NameError`` at parse time, and ``tests/dags`` checks every
step's signature against its wiring.

The report step of a DAG (``report=True``) runs whatever happened upstream: it returns a
:class:`~airflow_ops.report.RunReport` that the operator completes (kind, ids, start, end, duration),
logs, writes as the run note and pushes to XCom (key ``report``). When an upstream step failed, the
operator reports that failure instead (which step, its one-line reason, what was and was not done)
and still fails the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_ops.kind import Kind
    from airflow_ops.metric import Metric
    from airflow_ops.report import RunReport

log = logging.getLogger(__name__)

StepFunc = Callable[..., Any]
_ERROR_KEY = "error"
_VALIDATED: dict[int, Any] = {}


@dataclass(frozen=True)
class Run:
    """What a step may know about its run: ids, dates, params. No Airflow objects leak further."""

    kind: str
    dag_id: str
    run_id: str
    logical_date: dt.datetime | None
    run_after: dt.datetime
    started_at: dt.datetime
    params: Mapping[str, Any]
    queue: str
    ti: Any = None

    @property
    def when(self) -> dt.datetime:
        """The moment a run's outputs are keyed on: the logical date, else (manual runs) run_after."""
        return (self.logical_date or self.run_after).astimezone(dt.UTC)

    def param(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name)
        return default if value is None else value

    def report(self, **fields: Any) -> RunReport:
        """A report of this run: the caller gives title, mode, ok and the figures; the envelope is filled."""
        from airflow_ops.compat import airflow_version
        from airflow_ops.report import RunReport, utc_now

        ended = utc_now()
        return RunReport(
            airflow_version=airflow_version(),
            kind=self.kind,
            dag_id=self.dag_id,
            run_id=self.run_id,
            started_at=self.started_at.isoformat(),
            ended_at=ended.isoformat(),
            duration_s=round((ended - self.started_at).total_seconds(), 3),
            **fields,
        )


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


class MaintenanceStep(BaseOperator):
    """Run one step function of a kind. Declare with :func:`step`."""

    template_fields: Sequence[str] = ()
    ui_color = "#e8f4ea"
    func: StepFunc | None = None
    spec: Mapping[str, Any] = {}
    #: The row of the DAG's kind (title, metrics, schema), handed down by the factory.
    kind: Kind | None = None
    #: (argument name, upstream task ids, is a list) for every upstream result the function takes.
    inputs: tuple[tuple[str, tuple[str, ...], bool], ...] = ()
    is_report: bool = False

    def execute(self, context: Any) -> Any:
        run = self._run(context)
        cfg = _validated(self.spec, self._kind())
        if self.is_report:
            return self._report(cfg, run, context)
        try:
            kwargs = {name: self._pull(context, ids, many) for name, ids, many in self.inputs}
            assert self.func is not None
            return self.func(cfg, run, **kwargs)
        except Exception as exc:
            # Recorded for the report step, which runs whatever happened here.
            context["ti"].xcom_push(key=_ERROR_KEY, value={"step": self._label(), "reason": one_line(exc)})
            raise

    # -- internals -----------------------------------------------------------------------------
    def _kind(self) -> Kind:
        assert self.kind is not None, "declare steps with step(..., kind=...)"
        return self.kind

    def _label(self) -> str:
        return str(getattr(self, "task_display_name", None) or self.task_id)

    def _run(self, context: Any) -> Run:
        from airflow_ops.compat import fail_exception

        AirflowFailException = fail_exception()

        dag_run = context["dag_run"]
        conf = dict(getattr(dag_run, "conf", None) or {})
        known = set(self.dag.params) if self.dag is not None else set()
        unknown = sorted(set(conf) - known)
        if unknown:
            raise AirflowFailException(
                f"unknown run param(s) {', '.join(map(repr, unknown))}: nothing was done; valid params of "
                f"{dag_run.dag_id} are {', '.join(sorted(known)) or '(none)'}"
            )
        run_after = _as_datetime(getattr(dag_run, "run_after", None)) or dt.datetime.now(dt.UTC)
        started = _as_datetime(getattr(dag_run, "start_date", None)) or run_after
        return Run(
            kind=str(self.spec.get("kind")),
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            logical_date=_as_datetime(getattr(dag_run, "logical_date", None)),
            run_after=run_after,
            started_at=started,
            params=dict(context.get("params") or {}),
            queue=str(self.queue),
            ti=context["ti"],
        )

    def _pull(self, context: Any, task_ids: tuple[str, ...], many: bool) -> Any:
        ti = context["ti"]
        values = [ti.xcom_pull(task_ids=t) for t in task_ids]
        return values if many else values[0]

    def _report(self, cfg: Any, run: Run, context: Any) -> Any:
        from airflow_ops.compat import fail_exception

        AirflowFailException = fail_exception()

        from airflow_ops.report import REPORT_KEY, Failure, check_metrics

        ti = context["ti"]
        # By task id, not identity: the task runner executes a copy (``prepare_for_execution``).
        steps = (
            [t for t in self.dag.tasks if t.task_id != self.task_id and isinstance(t, MaintenanceStep)]
            if self.dag
            else []
        )
        done, not_done, errors = [], [], []
        for task in steps:
            error = ti.xcom_pull(task_ids=task.task_id, key=_ERROR_KEY)
            if error:
                errors.append(error)
                not_done.append(task._label())
            elif ti.xcom_pull(task_ids=task.task_id) is None:
                not_done.append(task._label())
            else:
                done.append(task._label())
        note_conn_id = self.spec.get("note_conn_id")
        if not_done:
            first = (
                errors[0]
                if errors
                else {"step": not_done[0], "reason": "ended without a result (see its log)"}
            )
            kind = self._kind()
            from airflow_ops.notifiers import alert_warnings

            rep = run.report(
                title=kind.title,
                mode="dry_run" if run.param("dry_run", False) else "apply",
                ok=False,
                metrics=dict.fromkeys((m.name for m in kind.metrics), None),
                failure=Failure(first["step"], first["reason"], done, not_done),
                # The alerts of this failure go out after this step; say now which cannot arrive.
                warnings=alert_warnings(self.spec.get("alerts") or {}),
            )
            payload = publish(rep, kind.metrics, note_conn_id)
            ti.xcom_push(key=REPORT_KEY, value=payload)
            raise AirflowFailException(f"{first['step']} failed: {first['reason']}")
        kwargs = {name: self._pull(context, ids, many) for name, ids, many in self.inputs}
        assert self.func is not None
        rep = self.func(cfg, run, **kwargs)
        metrics = self._kind().metrics
        problems = check_metrics(rep, metrics)
        if problems:  # a defect of the bundle, not of the run: say so plainly
            raise TypeError("report does not match its schema: " + "; ".join(problems))
        payload = publish(rep, metrics, note_conn_id)
        ti.xcom_push(key=REPORT_KEY, value=payload)
        if not rep.ok:
            raise AirflowFailException(rep.status())
        return payload


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message, else its type (never a traceback)."""
    text = " ".join(str(exc).split())
    return text[:500] if text else type(exc).__name__


def _validated(spec: Mapping[str, Any], kind: Kind) -> Any:
    """The kind's typed config for a DAG file's literal, validated once per process."""
    key = id(spec)
    if key not in _VALIDATED:
        from airflow_ops.config import parse_config

        _VALIDATED[key] = parse_config(dict(spec), kind.schema(), f"DAG {spec.get('dag_id')!r}")
    return _VALIDATED[key]


def publish(report: RunReport, declared: Sequence[Metric], note_conn_id: str | None) -> dict[str, Any]:
    """Log the table, emit the metrics, set the DAG run note when an API connection exists, return
    the XCom payload. Neither the metrics nor the note can fail the run."""
    from airflow_ops.metrics import emit

    log.info("Run report\n%s", report.render_table())
    emit(report, declared)
    if note_conn_id:
        _set_note(report, note_conn_id)
    return report.to_dict()


def _set_note(report: RunReport, conn_id: str) -> None:
    from airflow_ops.api_client import AirflowApi, ApiError
    from airflow_ops.connections import get_connection
    from airflow_ops.exceptions import MissingConnectionError

    try:
        api = AirflowApi.from_connection(get_connection(conn_id, "REST API for DAG run notes", kind="api"))
        api.set_dag_run_note(report.dag_id, report.run_id, report.render_note())
    except MissingConnectionError as exc:
        log.info("Run note not written: %s", exc)
    except ApiError as exc:
        log.warning("Run note not written (the report is still in XCom and this log): %s", exc)


Upstream = BaseOperator | Sequence[BaseOperator]


def step(
    func: StepFunc,
    *,
    spec: Mapping[str, Any],
    kind: Kind,
    task_id: str,
    display: str,
    upstream: Mapping[str, Upstream] | None = None,
    after: Sequence[BaseOperator] = (),
    report: bool = False,
    **kwargs: Any,
) -> MaintenanceStep:
    """Declare a step, e.g. ``step(tasks.verify, spec=spec, kind=kind, task_id="verify", upstream=...)``.

    ``kind`` is the DAG's kind row (``build(spec, dag_kwargs, kind)`` receives it from the factory):
    the step takes its title, metrics and schema from it.

    ``upstream`` maps each keyword of ``func`` to the operator (or list of operators) whose result it
    takes; they also become the step's upstream tasks, as do ``after``. ``MaintenanceStep`` has no
    ``__init__`` of its own on purpose: Airflow wraps each operator class's ``__init__`` to merge
    ``default_args`` and deep-copy Params, so a subclass constructor costs about 20 µs per task per parse.
    """
    if report:
        kwargs.setdefault("trigger_rule", "all_done")
        kwargs.setdefault("retries", 0)
    op = MaintenanceStep(task_id=task_id, task_display_name=display, **kwargs)
    op.func = func
    op.spec = spec
    op.kind = kind
    op.is_report = report
    inputs = []
    for name, ups in (upstream or {}).items():
        many = not isinstance(ups, BaseOperator)
        ops: list[BaseOperator] = [ups] if isinstance(ups, BaseOperator) else list(ups)
        inputs.append((name, tuple(o.task_id for o in ops), many))
        for o in ops:
            o >> op
    for o in after:
        o >> op
    op.inputs = tuple(inputs)
    return op
