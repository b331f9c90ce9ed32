"""What ``airflow db clean`` may touch on each supported release (issue 23): the exclusions, the
refusals, the defaults a release lacks and the dependents a selection pulls in.

Each release's catalogue is the one measured on it (``CATALOGUES`` in ``test_db_cleanup.py``), put
in place of the installed Airflow's, so every release's answer is checked on any install; the
expected lists are worked out by hand from those catalogues.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_ops import compat
from airflow_ops.compat import CleanTable
from airflow_ops.dbclean import tables
from airflow_ops.dbclean.tables import (
    EXCLUDED_TABLES,
    check_table,
    cleanable,
    dependents,
    effective_tables,
    excluded_here,
    recency_column,
    release,
)
from tests.unit.test_db_cleanup import CATALOGUES

On = Callable[[str], None]
VERSIONS = {"3.1": "3.1.8", "3.2": "3.2.2", "3.3": "3.3.2"}


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> On:
    """``on(minor)``: the installed Airflow is that minor's measured release, with its catalogue."""

    def use(minor: str) -> None:
        monkeypatch.setattr(compat, "airflow_version", lambda: VERSIONS[minor])
        monkeypatch.setattr(
            compat,
            "db_clean_catalogue",
            lambda: {t: CleanTable(col, deps) for t, (col, deps) in CATALOGUES[minor].items()},
        )

    return use


def test_the_catalogue_is_table_to_recency_column_and_dependents(on: On) -> None:
    on("3.2")
    assert dict(tables.catalogue()) == CATALOGUES["3.2"]
    assert release() == "3.2.2"
    assert recency_column("log") == "dttm"
    assert recency_column("revoked_token") == "exp"
    assert dependents("dag_run") == ("task_instance", "deadline")
    assert dependents("log") == ()
    assert dependents("no_such_table") == ()


@pytest.mark.parametrize(
    ("minor", "excluded"),
    [
        ("3.1", {"dag", "dag_version", "trigger", "deadline", "sla_miss", "_xcom_archive"}),
        ("3.2", {"dag", "dag_version", "trigger", "deadline", "sla_miss", "_xcom_archive"}),
        (
            "3.3",
            {
                "dag",
                "dag_version",
                "trigger",
                "callback",
                "deadline",
                "partitioned_asset_key_log",
                "task_state_store",
                "_xcom_archive",
            },
        ),
    ],
)
def test_the_exclusions_that_apply_on_each_release(on: On, minor: str, excluded: set[str]) -> None:
    on(minor)
    got = {t for t in EXCLUDED_TABLES if excluded_here(t) is not None}
    assert got == excluded
    assert excluded_here("dag") is EXCLUDED_TABLES["dag"]
    assert excluded_here("log") is None


@pytest.mark.parametrize(
    ("minor", "table", "message"),
    [
        ("3.1", "dag", "'dag' is excluded on Airflow 3.1.8: deleting a dag row cascades"),
        ("3.2", "sla_miss", "'sla_miss' is excluded on Airflow 3.2.2: SLAs were removed in Airflow 3.0"),
        ("3.3", "callback", "'callback' is excluded on Airflow 3.3.2: purging callbacks cascades"),
        ("3.3", "task_state_store", "'task_state_store' is excluded on Airflow 3.3.2: Airflow's own"),
    ],
)
def test_an_excluded_table_is_refused_naming_the_release_and_the_reason(
    on: On, minor: str, table: str, message: str
) -> None:
    on(minor)
    with pytest.raises(ValueError) as err:
        check_table(table)
    assert str(err.value).startswith(message)
    assert (
        str(err.value)
        == f"{table!r} is excluded on Airflow {VERSIONS[minor]}: {EXCLUDED_TABLES[table].reason}"
    )


def test_a_table_unknown_here_is_refused_listing_only_the_tables_that_may_be_cleaned(on: On) -> None:
    on("3.1")
    # 3.1's catalogue in its order, less dag, dag_version, deadline, trigger, sla_miss and _xcom_archive.
    allowed = (
        "asset_event, celery_taskmeta, celery_tasksetmeta, import_error, job, log, task_instance, "
        "task_instance_history, task_reschedule, xcom, callback_request, dag_run"
    )
    for table in ("task_state_store", "callback", "dag_runs"):  # 3.3-only, 3.3-only, a typo
        with pytest.raises(ValueError) as err:
            check_table(table)
        assert (
            str(err.value)
            == f"{table!r} is not a table `airflow db clean` knows on Airflow 3.1.8 ({allowed})"
        )


def test_a_table_not_excluded_on_this_release_is_accepted(on: On) -> None:
    on("3.3")
    for table in ("log", "dag_run", "revoked_token", "connection_test_request"):
        check_table(table)


def test_sla_miss_is_refused_before_33_and_unknown_on_33(on: On) -> None:
    on("3.3")
    with pytest.raises(
        ValueError, match=r"^'sla_miss' is not a table `airflow db clean` knows on Airflow 3\.3\.2"
    ):
        check_table("sla_miss")


def test_a_default_table_this_release_lacks_is_accepted_then_skipped(on: On) -> None:
    on("3.1")
    check_table("revoked_token")  # a default table: not refused on 3.1, which lacks it
    assert cleanable(["log", "revoked_token", "dag_run"]) == (["log", "dag_run"], ["revoked_token"])
    on("3.2")
    assert cleanable(("log", "revoked_token", "dag_run")) == (["log", "revoked_token", "dag_run"], [])


def test_a_selection_cleans_its_dependents_first_each_once(on: On) -> None:
    on("3.3")
    assert effective_tables(["dag_run"]) == [
        "task_instance_history",
        "xcom",
        "task_instance",
        "task_state_store",
        "deadline",
        "dag_run",
    ]
    assert effective_tables(["xcom", "dag_run", "log"]) == [
        "xcom",
        "task_instance_history",
        "task_instance",
        "task_state_store",
        "deadline",
        "dag_run",
        "log",
    ]
    # dag -> dag_version -> (task_instance, dag_run -> task_instance again), deadline twice.
    assert effective_tables(["dag"]) == [
        "task_instance_history",
        "xcom",
        "task_instance",
        "task_state_store",
        "deadline",
        "dag_run",
        "dag_version",
        "dag",
    ]
    on("3.1")
    assert effective_tables(["dag_run"]) == [
        "task_instance_history",
        "xcom",
        "task_instance",
        "deadline",
        "dag_run",
    ]
    assert effective_tables(["revoked_token", "log"]) == ["revoked_token", "log"]  # unknown here: itself only
