"""The Maintenance page's FastAPI app, mounted by the plugin on the api-server.

Airflow mounts plugin apps without its own auth dependencies, so every route here declares them:
the api-server's ``requires_access_dag("GET")`` (a JWT from the ``Authorization`` header or the
UI's ``_token`` cookie; anonymous -> 401, no DAG read access -> 403), and the page then shows only
the maintenance DAGs the user may read (none -> 403).

Thresholds: the ``[airflow_ops]`` options of :data:`airflow_ops.console.page.OPTIONS`
(``console_backup_max_age_hours``, ``console_log_free_min_pct``; rendered and explained by
airflow.cfg.template), e.g. ``AIRFLOW__AIRFLOW_OPS__CONSOLE_BACKUP_MAX_AGE_HOURS=26``.
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at definition time,
# and their types are imported inside create_app().

import contextvars
import datetime as dt
import time
from typing import Any

from airflow_ops.console import data, page

_queries: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "ops_console_queries", default=None
)
_listening: set[int] = set()
#: Milliseconds this process has spent in the cyclic garbage collector (``gc.callbacks``), reported per
#: request in ``Server-Timing`` as ``gc``: a full collection of the api-server's heap shows there.
_gc_ms = [0.0, 0.0]  # [total, start of the running collection]


def _time_gc(phase: str, _info: dict[str, Any]) -> None:
    now = time.perf_counter()
    if phase == "start":
        _gc_ms[1] = now
    else:
        _gc_ms[0] += (now - _gc_ms[1]) * 1000


def _count_queries(session: Any) -> None:
    """Count SQL statements of this request (reported in the ``X-Ops-Queries`` header)."""
    from sqlalchemy import event

    engine = session.get_bind()
    if id(engine) in _listening:
        return
    _listening.add(id(engine))

    def before(*_args: Any, **_kw: Any) -> None:
        counter = _queries.get()
        if counter is not None:
            counter[0] += 1

    event.listen(engine, "before_cursor_execute", before)


def _settle_heap() -> None:
    """Move the api-server's heap, as it stands at the page's first request (startup done), out of the
    cyclic garbage collector's reach: ``gc.collect()`` then ``gc.freeze()``, as Airflow's own scheduler
    and dag-processor do before they fork.

    Without it, every few dozen pages a full collection walks the whole api-server heap (imports,
    serialized DAGs): 450 ms measured on a page that otherwise takes 50 ms. Frozen objects are still
    freed by reference counting; only a reference cycle among them would now outlive its use.
    """
    import gc

    if _time_gc not in gc.callbacks:
        gc.callbacks.append(_time_gc)
        gc.collect()
        gc.freeze()


def thresholds() -> page.Thresholds:
    """The ``[airflow_ops]`` limits. A value that is not a finite number >= 0 never fails the page: the
    default is used and the attention list names the option, its value and the fix."""
    import logging

    from airflow.configuration import conf

    values: dict[str, Any] = {}
    errors: list[str] = []
    for option, default in page.option_defaults().items():
        raw = conf.get("airflow_ops", option, fallback=None)
        try:
            value = default if raw is None or not str(raw).strip() else float(raw)
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):  # the renderer's rule too: 0 turns a check off
            errors.append(
                f"[airflow_ops] {option} = {raw!r} is not a number >= 0; using {default:g}: fix it "
                f"in airflow.cfg or AIRFLOW__AIRFLOW_OPS__{option.upper()} on the api-server"
            )
            logging.getLogger(__name__).warning("%s", errors[-1])
            value = default
        values[page.OPTIONS[option]] = value
    return page.Thresholds(**values, errors=tuple(errors))


def create_app() -> Any:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException, Request, status
    from fastapi.responses import HTMLResponse, RedirectResponse

    from airflow_ops import compat

    _settle_heap()
    app = FastAPI(
        title="airflow-ops Maintenance",
        dependencies=[Depends(requires_access_dag("GET"))],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/", response_class=HTMLResponse)
    def maintenance_page(request: Request, user: GetUserDep, session: SessionDep) -> HTMLResponse:
        started, gc_before = time.perf_counter(), _gc_ms[0]
        days = page.parse_days(request.query_params.get("days"))
        now = dt.datetime.now(dt.UTC)
        _count_queries(session)
        counter = [0]
        token = _queries.set(counter)
        try:
            wanted = data.default_dag_ids()
            snap = data.load(session, now - dt.timedelta(days=days), allowed=None)
            wanted |= {d.dag_id for d in snap.dags}
            allowed = get_auth_manager().filter_authorized_dag_ids(dag_ids=wanted, user=user, method="GET")
            if not allowed:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "No read access to the maintenance DAGs")
            snap = _restrict(snap, allowed)
            loaded = time.perf_counter()
            html = page.render(
                snap,
                now=now,
                days=days,
                limits=thresholds(),
                username=user.get_name(),
                airflow_version=compat.airflow_version(),
            )
        finally:
            _queries.reset(token)
        done = time.perf_counter()
        elapsed_ms, db_ms, render_ms = (
            (done - started) * 1000,
            (loaded - started) * 1000,
            (done - loaded) * 1000,
        )
        return HTMLResponse(
            html,
            headers={
                "X-Ops-Queries": str(counter[0]),
                # Runs behind the charts: bounded per DAG (data.MAX_POINTS buckets) whatever the schedule.
                "X-Ops-Window-Runs": str(len(snap.window)),
                "Server-Timing": f"page;dur={elapsed_ms:.1f}, db;dur={db_ms:.1f}, "
                f"render;dur={render_ms:.1f}, gc;dur={_gc_ms[0] - gc_before:.1f}",
                "Cache-Control": "no-store",
                # Embedded by the Airflow UI (same origin) only.
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "img-src 'self' data:; frame-ancestors 'self'",
            },
        )

    @app.get("/health")
    def console_health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/index.html", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("./")

    return app


def _restrict(snap: data.Snapshot, allowed: set[str]) -> data.Snapshot:
    backup = snap.latest_verified_backup
    return data.Snapshot(
        dags=[d for d in snap.dags if d.dag_id in allowed],
        latest={k: v for k, v in snap.latest.items() if k in allowed},
        last_success={k: v for k, v in snap.last_success.items() if k in allowed},
        window=[r for r in snap.window if r.dag_id in allowed],
        latest_verified_backup=backup if backup is not None and backup.dag_id in allowed else None,
    )
