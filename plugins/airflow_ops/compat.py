"""The one seam between the bundle and the Airflow 3 release it runs on (3.1, 3.2 and 3.3).

Every difference between the supported releases that the bundle meets lives here, and nowhere
else: the rest of the package calls these functions instead of importing a release-specific name.
Each difference is detected by capability (a module or name exists, a keyword or a CLI flag is
accepted), never by comparing version strings; :data:`DIFFERENCES` lists them with the first minor
that has the capability and what the bundle does without it (README 'Supported Airflow releases' and a unit
test, run on every supported release by ``make test-compat``, come from that list).

Nothing here imports Airflow at module import time; every lookup is cached per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The oldest Airflow minor the bundle supports; DAG files refuse to load on anything older.
MINIMUM_AIRFLOW = (3, 1)
#: The newest minor proven (``make test-compat``); ``pyproject.toml`` caps the range below the next one.
SUPPORTED_MINORS = ("3.1", "3.2", "3.3")


@dataclass(frozen=True)
class Difference:
    """One capability that some supported releases lack."""

    name: str
    since: str  # the first supported minor that has it
    what: str
    without: str  # what the bundle does on a release without it


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "sdk_exceptions",
        "3.2",
        "`airflow.sdk.exceptions` (`AirflowFailException`, `AirflowNotFoundException`)",
        "the same classes from `airflow.exceptions`",
    ),
    Difference("sdk_conf", "3.2", "`airflow.sdk.configuration.conf`", "`airflow.configuration.conf`"),
    Difference(
        "sdk_stats",
        "3.2",
        "`airflow.sdk.observability.stats`",
        "`airflow.stats.Stats`: every metric is still sent",
    ),
    Difference(
        "stats_functions",
        "3.3",
        "module-level `incr`/`gauge`/`timing` in `airflow.sdk.observability.stats`",
        "that module's `Stats` class: every metric is still sent",
    ),
    Difference(
        "callback_module",
        "3.2",
        "`AsyncCallback` in `airflow.sdk.definitions.callback`",
        "`AsyncCallback` from `airflow.sdk.definitions.deadline`: deadline alerts work the same",
    ),
    Difference(
        "deadline_name",
        "3.3",
        "`DeadlineAlert(name=...)`",
        "the deadline alert has no name in the UI; it fires and alerts the same",
    ),
    Difference(
        "dagbag_module",
        "3.2",
        "`DagBag` in `airflow.dag_processing.dagbag`",
        "`airflow.models.dagbag.DagBag` (tests and tools only)",
    ),
    Difference(
        "db_clean_error_flag",
        "3.2",
        "`airflow db clean --error-on-cleanup-failure`",
        "the run reads the command's output for a table Airflow skipped on error and fails",
    ),
    Difference(
        "state_store_clean",
        "3.3",
        "`airflow state-store clean` for `task_state_store`",
        "the table does not exist; nothing to clean",
    ),
    Difference(
        "nav_top_level",
        "3.3",
        "`external_views` `nav_top_level` (the Maintenance entry in the top navigation)",
        "the Maintenance entry sits in the UI's Plugins menu",
    ),
)


@functools.cache
def airflow_version() -> str:
    """The installed Airflow's version, e.g. ``3.2.2`` (``unknown`` without Airflow).

    Read once per process from the already-imported package (every DAG file parse asks for it)."""
    try:
        import airflow

        return str(airflow.__version__)
    except Exception:
        return "unknown"


def minor(version: str) -> tuple[int, int]:
    """``(3, 2)`` of ``3.2.2``; ``(0, 0)`` when unreadable."""
    try:
        major, minor_, *_ = version.split(".")
        return int(major), int("".join(ch for ch in minor_ if ch.isdigit()) or 0)
    except ValueError:
        return 0, 0


def quiet_airflow_import() -> None:
    """Keep Airflow's import-time INFO lines off a CLI's output (3.1 logs alembic's plugin set-up on
    ``import airflow``): a CLI that promises one line of output calls this before importing Airflow.
    An explicit ``AIRFLOW__LOGGING__LOGGING_LEVEL`` wins."""
    import os

    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


def require_supported_airflow() -> None:
    """Refuse, in one line, an Airflow older than :data:`MINIMUM_AIRFLOW` (called by every DAG file)."""
    found = airflow_version()
    if minor(found) < MINIMUM_AIRFLOW:
        raise ImportError(f"airflow-ops needs Apache Airflow >= 3.1 (found {found})")


@functools.cache
def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _first(*candidates: tuple[str, str]) -> Any:
    for module, attr in candidates:
        mod = _module(module)
        if mod is not None and hasattr(mod, attr):
            return getattr(mod, attr)
    raise ImportError(f"none of {', '.join(f'{m}.{a}' for m, a in candidates)} exists in this Airflow")


# -- names that moved --------------------------------------------------------------------------------
def fail_exception() -> type[Exception]:
    """``AirflowFailException``: a task failure that is not retried."""
    exc: type[Exception] = _first(
        ("airflow.sdk.exceptions", "AirflowFailException"), ("airflow.exceptions", "AirflowFailException")
    )
    return exc


def not_found_exception() -> type[Exception]:
    """``AirflowNotFoundException``: a connection or variable that does not exist."""
    exc: type[Exception] = _first(
        ("airflow.sdk.exceptions", "AirflowNotFoundException"),
        ("airflow.exceptions", "AirflowNotFoundException"),
    )
    return exc


def conf() -> Any:
    """Airflow's configuration parser (``[section] key`` reads)."""
    return _first(("airflow.sdk.configuration", "conf"), ("airflow.configuration", "conf"))


def dagbag_class() -> Any:
    """``DagBag`` (moved to ``airflow.dag_processing.dagbag`` in 3.2)."""
    return _first(("airflow.dag_processing.dagbag", "DagBag"), ("airflow.models.dagbag", "DagBag"))


# -- metrics ------------------------------------------------------------------------------------------
class _StatsFacade:
    """``incr`` / ``gauge`` / ``timing`` with keyword tags, on whichever facade this release has."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def incr(self, name: str, count: int = 1, tags: Mapping[str, str] | None = None) -> None:
        self._target.incr(name, count, tags=dict(tags or {}))

    def gauge(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        self._target.gauge(name, value, tags=dict(tags or {}))

    def timing(self, name: str, value: dt.timedelta, tags: Mapping[str, str] | None = None) -> None:
        self._target.timing(name, value, tags=dict(tags or {}))


def stats() -> _StatsFacade:
    """Airflow's metrics facade: 3.3's module functions, 3.2's ``Stats`` class, 3.1's ``airflow.stats``.

    3.2's ``airflow.sdk.observability.stats`` has only the class: calling module functions there would
    send nothing and raise nothing, which is why the choice is made here, by what exists.
    """
    sdk = _module("airflow.sdk.observability.stats")
    if sdk is not None and all(hasattr(sdk, f) for f in ("incr", "gauge", "timing")):
        return _StatsFacade(sdk)
    return _StatsFacade(_first(("airflow.sdk.observability.stats", "Stats"), ("airflow.stats", "Stats")))


# -- deadline alerts ----------------------------------------------------------------------------------
def deadline_alert(
    reference: str, interval: dt.timedelta, callback: Callable[..., Any], kwargs: Mapping[str, Any], name: str
) -> Any:
    """A ``DeadlineAlert`` with an async callback; named where the release accepts a name (3.3)."""
    deadline_mod = importlib.import_module("airflow.sdk.definitions.deadline")
    async_callback = _first(
        ("airflow.sdk.definitions.callback", "AsyncCallback"),
        ("airflow.sdk.definitions.deadline", "AsyncCallback"),
    )
    references = {
        "queued_at": deadline_mod.DeadlineReference.DAGRUN_QUEUED_AT,
        "logical_date": deadline_mod.DeadlineReference.DAGRUN_LOGICAL_DATE,
    }
    alert_kwargs: dict[str, Any] = {
        "reference": references[reference],
        "interval": interval,
        "callback": async_callback(callback, kwargs=dict(kwargs)),
    }
    if deadline_alert_takes_name():
        alert_kwargs["name"] = name
    return deadline_mod.DeadlineAlert(**alert_kwargs)


@functools.cache
def deadline_alert_takes_name() -> bool:
    deadline_mod = importlib.import_module("airflow.sdk.definitions.deadline")
    return "name" in inspect.signature(deadline_mod.DeadlineAlert.__init__).parameters


# -- airflow db clean ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CleanTable:
    """One row of the installed Airflow's ``db clean`` catalogue."""

    recency_column: str
    dependents: tuple[str, ...]


@functools.cache
def db_clean_catalogue() -> dict[str, CleanTable]:
    """The installed Airflow's own ``airflow db clean`` catalogue (``airflow.utils.db_cleanup``)."""
    from airflow.utils import db_cleanup

    return {
        c.table_name: CleanTable(str(c.recency_column_name), tuple(c.dependent_tables or ()))
        for c in db_cleanup.config_list
    }


@functools.cache
def _cli_flags(group: str, command: str) -> frozenset[str] | None:
    """The long flags ``airflow <group> <command>`` accepts, or ``None`` when it does not exist."""
    from airflow.cli import cli_config

    for grp in cli_config.core_commands:
        if grp.name == group:
            for sub in getattr(grp, "subcommands", ()):
                if sub.name == command:
                    return frozenset(f for arg in sub.args for f in arg.flags if f.startswith("--"))
    return None


#: Makes ``airflow db clean`` exit non-zero when a table fails (3.2+); without it the failure exits 0.
DB_CLEAN_ERROR_FLAG = "--error-on-cleanup-failure"


def db_clean_flags() -> frozenset[str]:
    """The flags of ``airflow db clean`` here (``--error-on-cleanup-failure`` is 3.2+)."""
    return _cli_flags("db", "clean") or frozenset()


def has_state_store_clean() -> bool:
    """``airflow state-store clean`` exists (3.3+), the only thing that purges ``task_state_store``."""
    return _cli_flags("state-store", "clean") is not None


#: What ``airflow db clean`` prints (through its logger) for a table it skipped on error, on releases
#: without ``--error-on-cleanup-failure``; read from the command's output instead of the exit code.
CLEAN_TABLE_ERROR = "Encountered error when attempting to clean table"


# -- what tests/unit/test_compat.py checks on each release ----------------------------------------
def _has_nav_top_level() -> bool:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    return "nav_top_level" in ExternalViewResponse.model_fields


DETECTORS: dict[str, Callable[[], bool]] = {
    "sdk_exceptions": lambda: hasattr(_module("airflow.sdk.exceptions"), "AirflowFailException"),
    "sdk_conf": lambda: hasattr(_module("airflow.sdk.configuration"), "conf"),
    "sdk_stats": lambda: _module("airflow.sdk.observability.stats") is not None,
    "stats_functions": lambda: hasattr(_module("airflow.sdk.observability.stats"), "incr"),
    "callback_module": lambda: hasattr(_module("airflow.sdk.definitions.callback"), "AsyncCallback"),
    "deadline_name": deadline_alert_takes_name,
    "dagbag_module": lambda: hasattr(_module("airflow.dag_processing.dagbag"), "DagBag"),
    "db_clean_error_flag": lambda: DB_CLEAN_ERROR_FLAG in db_clean_flags(),
    "state_store_clean": has_state_store_clean,
    "nav_top_level": _has_nav_top_level,
}


def capabilities() -> dict[str, bool]:
    """Each difference of :data:`DIFFERENCES` -> whether this Airflow has it."""
    return {d.name: DETECTORS[d.name]() for d in DIFFERENCES}


def degraded() -> list[str]:
    """One line per capability this Airflow lacks, with what the bundle does instead."""
    have = capabilities()
    return [f"{d.what}: needs Airflow {d.since}+; {d.without}" for d in DIFFERENCES if not have[d.name]]
