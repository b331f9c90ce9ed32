"""The tables ``airflow db clean`` knows in Airflow 3.3.2, and which ones we leave out, and why.

Mirrors ``airflow.utils.db_cleanup.config_list`` (a unit test compares them, so an upgrade that
changes the catalogue fails loudly instead of cleaning something unexpected).
"""

from __future__ import annotations

#: table -> the column ``airflow db clean`` compares with ``--clean-before-timestamp``.
RECENCY_COLUMNS: dict[str, str] = {
    "_xcom_archive": "timestamp",
    "asset_event": "timestamp",
    "callback": "created_at",
    "celery_taskmeta": "date_done",
    "celery_tasksetmeta": "date_done",
    "connection_test_request": "updated_at",
    "dag": "last_parsed_time",
    "dag_run": "start_date",
    "dag_version": "created_at",
    "deadline": "deadline_time",
    "import_error": "timestamp",
    "job": "latest_heartbeat",
    "log": "dttm",
    "partitioned_asset_key_log": "created_at",
    "revoked_token": "exp",
    "task_instance": "start_date",
    "task_instance_history": "start_date",
    "task_reschedule": "start_date",
    "task_state_store": "expires_at",
    "trigger": "created_date",
    "xcom": "timestamp",
}

#: Tables ``airflow db clean`` also purges when the key is selected (its ``dependent_tables``).
DEPENDENTS: dict[str, tuple[str, ...]] = {
    "dag": ("dag_version", "deadline"),
    "dag_run": ("task_instance", "task_state_store", "deadline"),
    "task_instance": ("task_instance_history", "xcom"),
    "callback": ("deadline",),
    "trigger": ("task_instance",),
    "dag_version": ("task_instance", "dag_run"),
}

#: Tables with known clean problems on Airflow 3.3.2: refused in config, with the reason.
EXCLUDED_TABLES: dict[str, str] = {
    "dag": (
        "deleting a dag row cascades to its dag_version rows, which task_instance.dag_version_id "
        "references with ON DELETE RESTRICT: the clean fails with RestrictViolation (apache/airflow#71864, "
        "open on 3.3.x); removing a DAG belongs to `airflow dags delete`"
    ),
    "dag_version": (
        "3.3.2 skips versions still referenced by task_instance, but dag_run.created_dag_version_id is "
        "ON DELETE SET NULL, so surviving runs silently lose their version; and selecting it also pulls "
        "task_instance and dag_run in with dag_version's cutoff (apache/airflow#59474, #63703)"
    ),
    "trigger": (
        "the triggerer deletes triggers no task uses; cleaning by created_date can delete the trigger of a "
        "task that has been deferred longer than the retention, and it pulls task_instance in as a dependent"
    ),
    "callback": (
        "purging callbacks cascades to deadline rows; deadlines are still evolving in 3.3 "
        "(see the long extra_filters in db_cleanup.py), so we leave them to Airflow"
    ),
    "deadline": "cleaned only as a dependent of dag_run; alone it can drop deadlines of live runs",
    "partitioned_asset_key_log": "only orphan rows may go and 3.3.2 already guards that; nothing to gain",
    "_xcom_archive": "a one-off table left by the 2.x -> 3.0 migration: export it and drop it by hand",
}

#: What a default config cleans.
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


def effective_tables(tables: list[str] | tuple[str, ...]) -> list[str]:
    """The tables ``airflow db clean --tables`` touches: the selection and its dependents (first)."""
    out: list[str] = []

    def visit(table: str) -> None:
        if table in out:
            return
        for dep in DEPENDENTS.get(table, ()):
            visit(dep)
        out.append(table)

    for table in tables:
        visit(table)
    return out
