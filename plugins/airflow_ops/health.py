"""Health checks shared by the ``ops_health_probe`` DAG and the external probe CLI.

Each check turns one observation into a :class:`CheckResult` with value, threshold and verdict.
The api-server's ``/api/v2/monitor/health`` always answers 200, so verdicts come from the body.
"""

from __future__ import annotations

import datetime as dt
import enum
import fnmatch
import itertools
import posixpath
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
#: File names of the bundle's maintenance DAGs: an import error in one is always critical.
MAINTENANCE_DAG_FILES = ("ops_*.py",)


class Thresholds(Protocol):
    """The limits the checks grade against. Read-only: the probe DAG's config (``thresholds:``) and the
    probe CLI's flags both provide one (``airflow_ops.kinds.health_probe.schema.HealthThresholds``)."""

    @property
    def heartbeat_warning_seconds(self) -> int: ...

    @property
    def heartbeat_critical_seconds(self) -> int: ...

    @property
    def import_errors_warning(self) -> int: ...

    @property
    def import_errors_critical(self) -> int: ...

    @property
    def stuck_task_minutes(self) -> int: ...

    @property
    def stuck_tasks_warning(self) -> int: ...

    @property
    def stuck_tasks_critical(self) -> int: ...

    @property
    def log_volume_free_warning_pct(self) -> float: ...

    @property
    def log_volume_free_critical_pct(self) -> float: ...

    @property
    def db_size_warning_gb(self) -> float: ...

    @property
    def db_size_critical_gb(self) -> float: ...

    @property
    def freshness_warning_intervals(self) -> float: ...

    @property
    def freshness_critical_intervals(self) -> float: ...

    @property
    def paused_dag_verdict(self) -> Literal["ok", "warning", "critical"]: ...

    @property
    def backup_age_warning_hours(self) -> float: ...

    @property
    def backup_age_critical_hours(self) -> float: ...

    @property
    def stuck_in_queued_window_minutes(self) -> int: ...

    @property
    def stuck_in_queued_warning(self) -> int: ...

    @property
    def stuck_in_queued_critical(self) -> int: ...


class Verdict(enum.IntEnum):
    """Ordered so that ``max()`` gives the worst; the values are the external probe's exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class CheckResult:
    name: str
    value: Any
    threshold: str
    verdict: Verdict
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.name.lower()
        return d


def _parse_ts(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


#: A heartbeat up to this far in the future is ordinary skew between two hosts' clocks (age 0).
FUTURE_HEARTBEAT_TOLERANCE_SECONDS = 5.0


def check_components(
    body: dict[str, Any], components: Iterable[str], t: Thresholds, now: dt.datetime
) -> list[CheckResult]:
    """Status and heartbeat age of each component in the health body."""
    results = []
    for name in components:
        section = body.get(name) or {}
        if not isinstance(section, dict):
            results.append(
                CheckResult(
                    name,
                    None,
                    "a JSON object",
                    Verdict.CRITICAL,
                    f"the health body's {name!r} is {section!r}, not an object: "
                    "is this Airflow 3's api-server?",
                )
            )
            continue
        status = section.get("status")
        if name == "metadatabase":
            verdict = Verdict.OK if status == "healthy" else Verdict.CRITICAL
            results.append(
                CheckResult(
                    name,
                    status,
                    "healthy",
                    verdict,
                    "" if verdict == Verdict.OK else "the api-server cannot reach the metadata DB",
                )
            )
            continue
        threshold = f"heartbeat <= {t.heartbeat_warning_seconds}s warn, {t.heartbeat_critical_seconds}s crit"
        raw_hb = section.get(f"latest_{name}_heartbeat")
        try:
            hb = _parse_ts(raw_hb)
        except (TypeError, ValueError, AttributeError):
            results.append(
                CheckResult(
                    name,
                    None,
                    threshold,
                    Verdict.CRITICAL,
                    f"latest_{name}_heartbeat {raw_hb!r} is not an ISO timestamp",
                )
            )
            continue
        if status is None or hb is None:
            results.append(CheckResult(name, None, threshold, Verdict.CRITICAL, f"{name} has never run"))
            continue
        age = round((now - hb).total_seconds(), 1)
        if age < -FUTURE_HEARTBEAT_TOLERANCE_SECONDS:
            results.append(
                CheckResult(
                    f"{name}_heartbeat_age_s",
                    age,
                    threshold,
                    Verdict.CRITICAL,
                    f"{name}'s latest heartbeat is {-age:.0f}s in the future: the clocks of this host and "
                    f"the {name}'s differ by {-age:.0f}s, so its age cannot be judged; sync them (NTP)",
                )
            )
            continue
        age = max(age, 0.0)
        if age > t.heartbeat_critical_seconds:
            verdict, detail = Verdict.CRITICAL, f"{name} last heartbeat {age:.0f}s ago: is it running?"
        elif age > t.heartbeat_warning_seconds or status != "healthy":
            verdict, detail = Verdict.WARNING, f"{name} is {status}, last heartbeat {age:.0f}s ago"
        else:
            verdict, detail = Verdict.OK, ""
        results.append(CheckResult(f"{name}_heartbeat_age_s", age, threshold, verdict, detail))
    return results


def _graded(name: str, value: float, warn: float, crit: float, unit: str, detail: str) -> CheckResult:
    verdict = Verdict.CRITICAL if value >= crit else Verdict.WARNING if value >= warn else Verdict.OK
    return CheckResult(
        name,
        value,
        f">= {warn}{unit} warn, >= {crit}{unit} crit",
        verdict,
        detail if verdict != Verdict.OK else "",
    )


def maintenance_files(errors: Iterable[Mapping[str, Any]], patterns: Sequence[str]) -> list[str]:
    """The import errors' files whose name matches one of ``patterns`` (the maintenance DAG files)."""
    found = []
    for err in errors:
        name = str(err.get("filename") or "")
        if any(fnmatch.fnmatchcase(posixpath.basename(name.replace("\\", "/")), p) for p in patterns):
            found.append(name)
    return sorted(set(found))


def check_import_errors(
    count: int,
    t: Thresholds,
    errors: Iterable[Mapping[str, Any]] = (),
    patterns: Sequence[str] = MAINTENANCE_DAG_FILES,
) -> CheckResult:
    """Graded on the count, except that a maintenance DAG file that fails to import (a file of
    ``errors`` matching ``patterns``) is critical whatever the count: maintenance has stopped."""
    broken = maintenance_files(errors, patterns)
    result = _graded(
        "import_errors",
        count,
        t.import_errors_warning,
        t.import_errors_critical,
        "",
        f"{count} DAG file(s) fail to import: see Browse -> DAG Import Errors",
    )
    threshold = f"{result.threshold}; any maintenance DAG file ({', '.join(patterns)}) crit"
    if not broken:
        return CheckResult(result.name, result.value, threshold, result.verdict, result.detail)
    shown = ", ".join(broken[:5]) + (" ..." if len(broken) > 5 else "")
    return CheckResult(
        "import_errors",
        count,
        threshold,
        Verdict.CRITICAL,
        f"maintenance DAG file(s) fail to import, so those DAGs do not run: {shown} "
        "(see Browse -> DAG Import Errors; run `make generate` and check the plugins folder)",
    )


def import_errors_check(
    api: Any, t: Thresholds, patterns: Sequence[str] = MAINTENANCE_DAG_FILES
) -> CheckResult:
    total, errors = api.import_errors()
    return check_import_errors(total, t, errors, patterns)


def check_stuck_tasks(tis: list[dict[str, Any]], t: Thresholds, now: dt.datetime) -> CheckResult:
    """Task instances queued or scheduled for longer than ``stuck_task_minutes``."""
    limit = dt.timedelta(minutes=t.stuck_task_minutes)
    stuck = []
    for ti in tis:
        since = _parse_ts(ti.get("queued_when") if ti.get("state") == "queued" else ti.get("scheduled_when"))
        if since is not None and now - since > limit:
            stuck.append(f"{ti.get('dag_id')}.{ti.get('task_id')}[{ti.get('state')}]")
    detail = f"stuck > {t.stuck_task_minutes}min: {', '.join(stuck[:10])}" + (
        " ..." if len(stuck) > 10 else ""
    )
    return _graded(
        "stuck_task_instances",
        len(stuck),
        t.stuck_tasks_warning,
        t.stuck_tasks_critical,
        "",
        detail + " (check executor slots, pools and workers)",
    )


def check_disk(path: str, t: Thresholds) -> CheckResult:
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return CheckResult("log_volume_free_pct", None, "", Verdict.CRITICAL, f"cannot stat {path}: {exc}")
    free_pct = round(100.0 * usage.free / usage.total, 2)
    warn, crit = t.log_volume_free_warning_pct, t.log_volume_free_critical_pct
    verdict = Verdict.CRITICAL if free_pct <= crit else Verdict.WARNING if free_pct <= warn else Verdict.OK
    return CheckResult(
        "log_volume_free_pct",
        free_pct,
        f"<= {warn}% warn, <= {crit}% crit",
        verdict,
        f"{path}: only {free_pct}% free; run ops_log_cleanup or grow the volume"
        if verdict != Verdict.OK
        else "",
    )


def check_db_size(size_bytes: int, t: Thresholds) -> CheckResult:
    gb = round(size_bytes / 1024**3, 3)
    return _graded(
        "metadata_db_size_gb",
        gb,
        t.db_size_warning_gb,
        t.db_size_critical_gb,
        "GB",
        f"metadata DB is {gb} GB: run ops_db_cleanup",
    )


def metadata_db_size(target: Any) -> int:
    """``pg_database_size`` of the metadata DB through a :class:`PostgresTarget`."""
    with target.connect(timeout_s=10) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        row = cur.fetchone()
    conn.close()
    return int(row[0]) if row else 0


def guarded(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; an error in it is itself a critical result, never a crash of the probe."""
    try:
        return fn()
    except Exception as exc:
        return CheckResult(name, None, "", Verdict.CRITICAL, f"{type(exc).__name__}: {exc}")


def run_api_checks(
    api: Any,
    components: Iterable[str],
    t: Thresholds,
    now: dt.datetime | None = None,
    maintenance_patterns: Sequence[str] = MAINTENANCE_DAG_FILES,
) -> list[CheckResult]:
    """Every check that needs only the REST API (health body, import errors, stuck tasks)."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        body = api.health()
    except Exception as exc:
        return [CheckResult("api_server", None, "reachable", Verdict.CRITICAL, str(exc))]
    results = check_components(body, components, t, now)
    results.append(guarded("import_errors", lambda: import_errors_check(api, t, maintenance_patterns)))
    results.append(
        guarded(
            "stuck_task_instances",
            lambda: check_stuck_tasks(api.task_instances(["queued", "scheduled"]), t, now),
        )
    )
    return results


def worst(results: Iterable[CheckResult]) -> Verdict:
    return max((r.verdict for r in results), default=Verdict.OK)


# -- freshness and stuck work ---------------------------------------------------------------------
#: The events the scheduler writes to the ``log`` table for tasks queued longer than
#: ``[scheduler] task_queued_timeout`` (requeued, then failed once the requeue limit is reached).
STUCK_IN_QUEUED_EVENTS = ["stuck in queued reschedule", "stuck in queued tries exceeded"]
_LEVEL = {"ok": Verdict.OK, "warning": Verdict.WARNING, "critical": Verdict.CRITICAL}


def schedule_interval_hours(summary: str | None, now: dt.datetime | None = None) -> float | None:
    """The longest gap between the next fire times of a cron schedule, in hours; None if not cron."""
    if not summary:
        return None
    try:
        from croniter import croniter

        it = croniter(summary.strip(), now or dt.datetime.now(dt.UTC))
        fires = [it.get_next(dt.datetime) for _ in range(8)]
    except Exception:  # not a cron expression (Asset, timedelta, None, a custom timetable)
        return None
    return float(max((b - a).total_seconds() for a, b in itertools.pairwise(fires))) / 3600


def check_dag_freshness(
    dag: dict[str, Any],
    last_success: dict[str, Any] | None,
    first_run: dict[str, Any] | None,
    interval_hours: float | None,
    t: Thresholds,
    now: dt.datetime,
) -> CheckResult:
    """One maintenance DAG: unpaused, and its last success within N intervals of its schedule.

    ``value`` is the hours since the last successful run ended (None if it never succeeded).
    A DAG that never succeeded is judged from its oldest run (failing since then) and is fine
    while it has no run at all: a new DAG's first run is not due yet.
    """
    dag_id = str(dag["dag_id"])
    name = f"dag_freshness:{dag_id}"
    if dag.get("is_paused"):
        verdict = _LEVEL[t.paused_dag_verdict]
        return CheckResult(
            name, None, "unpaused", verdict, f"{dag_id} is paused: unpause it or it never runs"
        )
    if interval_hours is None:
        return CheckResult(
            name,
            None,
            "no interval",
            Verdict.OK,
            f"{dag_id} has no cron schedule ({dag.get('timetable_summary')}): set expected_interval_hours "
            f"to check it",
        )
    warn_h = interval_hours * t.freshness_warning_intervals
    crit_h = interval_hours * t.freshness_critical_intervals
    threshold = f"last success <= {warn_h:g}h warn, {crit_h:g}h crit ({interval_hours:g}h interval)"
    ended = _parse_ts((last_success or {}).get("end_date"))
    if ended is not None:
        age = (now - ended).total_seconds() / 3600
        since = f"last success {age:.2f}h ago"
    else:
        first = _parse_ts((first_run or {}).get("run_after"))
        if first is None:
            return CheckResult(name, None, threshold, Verdict.OK, "")
        age = (now - first).total_seconds() / 3600
        since = f"no successful run, first run {age:.2f}h ago"
    verdict = Verdict.CRITICAL if age > crit_h else Verdict.WARNING if age > warn_h else Verdict.OK
    detail = f"{dag_id}: {since}; see its last runs' logs" if verdict != Verdict.OK else ""
    return CheckResult(name, round(age, 2) if ended is not None else None, threshold, verdict, detail)


def check_backup_age(age_hours: float | None, reason: str, readable: bool, t: Thresholds) -> CheckResult:
    """The latest verified backup's age. No pointer yet is a warning; an unreadable one critical."""
    threshold = f"<= {t.backup_age_warning_hours:g}h warn, {t.backup_age_critical_hours:g}h crit"
    if age_hours is None:
        verdict = Verdict.WARNING if readable else Verdict.CRITICAL
        return CheckResult("backup_age_hours", None, threshold, verdict, f"{reason}: run ops_metadata_backup")
    verdict = (
        Verdict.CRITICAL
        if age_hours > t.backup_age_critical_hours
        else Verdict.WARNING
        if age_hours > t.backup_age_warning_hours
        else Verdict.OK
    )
    return CheckResult(
        "backup_age_hours", round(age_hours, 2), threshold, verdict, reason if verdict != Verdict.OK else ""
    )


def check_stuck_in_queued(events: list[dict[str, Any]], t: Thresholds) -> CheckResult:
    """The scheduler's own "stuck in queued" events of the window (it already requeued or failed them)."""
    tasks = sorted({f"{e.get('dag_id')}.{e.get('task_id')}" for e in events})
    return _graded(
        "stuck_in_queued_events",
        len(events),
        t.stuck_in_queued_warning,
        t.stuck_in_queued_critical,
        "",
        f"{len(events)} 'stuck in queued' event(s) in the last {t.stuck_in_queued_window_minutes} min: "
        f"{', '.join(tasks[:10])}{' ...' if len(tasks) > 10 else ''} (workers down or queues unserved? "
        "see [scheduler] task_queued_timeout)",
    )


def run_freshness_checks(
    api: Any,
    tag: str | None,
    t: Thresholds,
    *,
    exclude: Iterable[str] = (),
    intervals: dict[str, float] | None = None,
    stuck_in_queued: bool = True,
    now: dt.datetime | None = None,
) -> list[CheckResult]:
    """The REST-only freshness checks (maintenance DAGs, stuck-in-queued events): DAG and CLI alike."""
    now = now or dt.datetime.now(dt.UTC)
    results: list[CheckResult] = []
    if tag:
        try:
            dags = [d for d in api.dags(tag) if d["dag_id"] not in set(exclude)]
        except Exception as exc:
            dags = []
            results.append(
                CheckResult("dag_freshness", None, "", Verdict.CRITICAL, f"cannot list DAGs: {exc}")
            )
        for dag in sorted(dags, key=lambda d: str(d["dag_id"])):
            dag_id = str(dag["dag_id"])

            def one(dag: dict[str, Any] = dag, dag_id: str = dag_id) -> CheckResult:
                interval = (intervals or {}).get(dag_id) or schedule_interval_hours(
                    dag.get("timetable_summary"), now
                )
                last = next(iter(api.dag_runs(dag_id, state="success", order_by="-end_date")), None)
                first = None if last else next(iter(api.dag_runs(dag_id, order_by="run_after")), None)
                return check_dag_freshness(dag, last, first, interval, t, now)

            results.append(guarded(f"dag_freshness:{dag_id}", one))
    if stuck_in_queued:
        after = (now - dt.timedelta(minutes=t.stuck_in_queued_window_minutes)).isoformat()
        results.append(
            guarded(
                "stuck_in_queued_events",
                lambda: check_stuck_in_queued(api.event_logs(STUCK_IN_QUEUED_EVENTS, after), t),
            )
        )
    return results
