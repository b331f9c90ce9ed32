"""Which tables ``airflow db clean`` may touch on the installed Airflow, which we leave out, and why.

The catalogue (tables, recency columns, dependents) is the installed Airflow's own,
``airflow.utils.db_cleanup.config_list``, read at run time through :mod:`airflow_ops.compat`; it differs
between 3.1, 3.2 and 3.3. Only the bundle's own decisions live here: the exclusions, with their reasons
and the releases they apply to, and the default selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ALL_RELEASES = ("3.1", "3.2", "3.3")


@dataclass(frozen=True)
class Exclusion:
    reason: str
    minors: tuple[str, ...] = ALL_RELEASES


#: Tables with known clean problems: refused in config on the releases named, with the reason.
EXCLUDED_TABLES: dict[str, Exclusion] = {
    "dag": Exclusion(
        "deleting a dag row cascades to its dag_version rows, which task_instance.dag_version_id "
        "references with ON DELETE RESTRICT: the clean fails with RestrictViolation (apache/airflow#71864, "
        "open on 3.3.x); removing a DAG belongs to `airflow dags delete`"
    ),
    "dag_version": Exclusion(
        "versions still referenced by task_instance are skipped, but dag_run.created_dag_version_id is "
        "ON DELETE SET NULL, so surviving runs silently lose their version; and selecting it also pulls "
        "task_instance and dag_run in with dag_version's cutoff (apache/airflow#59474, #63703)"
    ),
    "trigger": Exclusion(
        "the triggerer deletes triggers no task uses; cleaning by created_date can delete the trigger of a "
        "task that has been deferred longer than the retention, and it pulls task_instance in as a dependent"
    ),
    "callback": Exclusion(
        "purging callbacks cascades to deadline rows; deadlines are still evolving in 3.3 "
        "(see the long extra_filters in db_cleanup.py), so we leave them to Airflow",
        ("3.3",),
    ),
    "deadline": Exclusion("cleaned only as a dependent of dag_run; alone it can drop deadlines of live runs"),
    "partitioned_asset_key_log": Exclusion(
        "only orphan rows may go and 3.3 already guards that; nothing to gain", ("3.3",)
    ),
    "task_state_store": Exclusion(
        "Airflow's own `airflow state-store clean` purges it (by expiry, not by age); the bundle runs that "
        "command after the windows of `airflow db clean`",
        ("3.3",),
    ),
    "sla_miss": Exclusion(
        "SLAs were removed in Airflow 3.0; the table is a leftover of 2.x: export it and drop it by hand",
        ("3.1", "3.2"),
    ),
    "_xcom_archive": Exclusion(
        "a one-off table left by the 2.x -> 3.0 migration: export it and drop it by hand"
    ),
}

#: What a default config cleans. A default table the installed release does not know (``revoked_token``
#: is cleanable from 3.2) is skipped at run time and named in the report.
DEFAULT_TABLES: tuple[str, ...] = (
    "log",
    "job",
    "dag_run",
    "task_instance",
    "task_instance_history",
    "task_reschedule",
    "xcom",
    "import_error",
    "asset_event",
    "celery_taskmeta",
    "celery_tasksetmeta",
    "revoked_token",
)


def catalogue() -> Mapping[str, tuple[str, tuple[str, ...]]]:
    """The installed Airflow's catalogue: table -> (recency column, dependent tables)."""
    from airflow_ops import compat

    return {t: (c.recency_column, c.dependents) for t, c in compat.db_clean_catalogue().items()}


def release() -> str:
    from airflow_ops import compat

    return compat.airflow_version()


def excluded_here(table: str) -> Exclusion | None:
    """The exclusion of ``table`` on the installed release, if any."""
    from airflow_ops import compat

    found = EXCLUDED_TABLES.get(table)
    here = "{}.{}".format(*compat.minor(compat.airflow_version()))
    return found if found is not None and here in found.minors else None


def check_table(table: str) -> None:
    """Raise ``ValueError`` naming the release when ``table`` cannot be cleaned here."""
    known = catalogue()
    excluded = excluded_here(table)
    if excluded is not None:
        raise ValueError(f"{table!r} is excluded on Airflow {release()}: {excluded.reason}")
    if table not in known and table not in DEFAULT_TABLES:
        raise ValueError(
            f"{table!r} is not a table `airflow db clean` knows on Airflow {release()} "
            f"({', '.join(t for t in known if excluded_here(t) is None)})"
        )


def cleanable(tables: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(the tables to clean here, the default tables this release does not know)."""
    known = catalogue()
    return [t for t in tables if t in known], [t for t in tables if t not in known]


def effective_tables(tables: list[str] | tuple[str, ...]) -> list[str]:
    """The tables ``airflow db clean --tables`` touches: the selection and its dependents (first)."""
    known = catalogue()
    out: list[str] = []

    def visit(table: str) -> None:
        if table in out:
            return
        for dep in known.get(table, ("", ()))[1]:
            visit(dep)
        out.append(table)

    for table in tables:
        visit(table)
    return out


def recency_column(table: str) -> str:
    return catalogue()[table][0]


def dependents(table: str) -> tuple[str, ...]:
    return catalogue().get(table, ("", ()))[1]
