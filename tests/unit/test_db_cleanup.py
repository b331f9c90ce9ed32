"""Pure logic of the metadata DB cleanup: table catalogue, windows, CLI output, backup gate, config."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_ops import compat
from airflow_ops.config import parse_config
from airflow_ops.dbclean.backup_gate import BackupNotVerifiedError, check_latest_backup, require_recent_backup
from airflow_ops.dbclean.plan import groups, windows
from airflow_ops.dbclean.runner import failed_tables, parse_found_rows, source_table
from airflow_ops.dbclean.tables import EXCLUDED_TABLES, catalogue, cleanable, effective_tables
from airflow_ops.exceptions import ConfigError
from airflow_ops.kinds.db_cleanup.schema import DbCleanupConfig

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _cfg(**kw: Any) -> DbCleanupConfig:
    cfg = parse_config({"kind": "db_cleanup", "dag_id": "x", **kw})
    assert isinstance(cfg, DbCleanupConfig)
    return cfg


_COMMON = {
    "_xcom_archive": ("timestamp", ()),
    "asset_event": ("timestamp", ()),
    "celery_taskmeta": ("date_done", ()),
    "celery_tasksetmeta": ("date_done", ()),
    "dag": ("last_parsed_time", ("dag_version", "deadline")),
    "dag_version": ("created_at", ("task_instance", "dag_run")),
    "deadline": ("deadline_time", ()),
    "import_error": ("timestamp", ()),
    "job": ("latest_heartbeat", ()),
    "log": ("dttm", ()),
    "task_instance": ("start_date", ("task_instance_history", "xcom")),
    "task_instance_history": ("start_date", ()),
    "task_reschedule": ("start_date", ()),
    "trigger": ("created_date", ("task_instance",)),
    "xcom": ("timestamp", ()),
}
_UP_TO_32 = {
    "callback_request": ("created_at", ()),
    "sla_miss": ("timestamp", ()),
    "dag_run": ("start_date", ("task_instance", "deadline")),
}
#: ``airflow db clean``'s catalogue as measured on 3.1.8, 3.2.2 and 3.3.2 (table -> recency, dependents).
CATALOGUES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "3.1": {**_COMMON, **_UP_TO_32},
    "3.2": {**_COMMON, **_UP_TO_32, "revoked_token": ("exp", ())},
    "3.3": {
        **_COMMON,
        "revoked_token": ("exp", ()),
        "callback": ("created_at", ("deadline",)),
        "connection_test_request": ("updated_at", ()),
        "partitioned_asset_key_log": ("created_at", ()),
        "task_state_store": ("expires_at", ()),
        "dag_run": ("start_date", ("task_instance", "task_state_store", "deadline")),
    },
}
HERE = "{}.{}".format(*compat.minor(compat.airflow_version()))


def test_the_catalogue_is_the_installed_airflows_own() -> None:
    assert dict(catalogue()) == CATALOGUES[HERE]


def test_effective_tables_put_dependents_first() -> None:
    expected = ["task_instance_history", "xcom", "task_instance"]
    expected += ["task_state_store"] if HERE == "3.3" else []
    assert effective_tables(["dag_run"]) == [*expected, "deadline", "dag_run"]


@pytest.mark.parametrize("table", sorted(EXCLUDED_TABLES))
def test_tables_with_known_clean_problems_are_refused_with_the_reason(table: str) -> None:
    version = re.escape(compat.airflow_version())
    if HERE in EXCLUDED_TABLES[table].minors:
        with pytest.raises(ConfigError, match=rf"excluded on Airflow {version}: "):
            _cfg(tables=[table])
    else:
        with pytest.raises(ConfigError, match=rf"not a table `airflow db clean` knows on Airflow {version}"):
            _cfg(tables=[table])


def test_every_exclusion_names_a_table_of_the_releases_it_applies_to() -> None:
    for table, exclusion in EXCLUDED_TABLES.items():
        assert exclusion.minors, table
        for minor in exclusion.minors:
            assert table in CATALOGUES[minor], (table, minor)


def test_a_table_of_another_release_is_refused_naming_this_one() -> None:
    other = {"3.1": "connection_test_request", "3.2": "connection_test_request", "3.3": "callback_request"}
    with pytest.raises(ConfigError, match=rf"on Airflow {re.escape(compat.airflow_version())}"):
        _cfg(tables=[other[HERE]])


def test_a_default_table_this_release_lacks_is_skipped_not_refused() -> None:
    cfg = _cfg()
    assert "revoked_token" in cfg.tables
    here, skipped = cleanable(cfg.tables)
    assert skipped == ([] if HERE != "3.1" else ["revoked_token"])
    assert set(here) | set(skipped) == set(cfg.tables)


def test_db_clean_failure_lines_name_the_failed_tables() -> None:
    out = (
        "Checking table log\n2026-12-07 [warning] Encountered error when attempting to clean table 'log'. \n"
        "Checking table job\nEncountered error when attempting to clean table 'job'. \n"
        "Encountered error when attempting to clean table 'log'. \n"
    )
    assert failed_tables(out) == ["log", "job"]
    assert failed_tables("Checking table log\nFound 3 rows meeting deletion criteria.\n") == []


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a table"):
        _cfg(tables=["dag_runs"])


def test_dependent_retention_longer_than_its_parent_is_refused() -> None:
    with pytest.raises(ConfigError, match="purges task_instance rows with dag_run"):
        _cfg(
            tables=["dag_run", "task_instance"], retention_days=30, table_retention_days={"task_instance": 60}
        )


def test_default_schedule_is_the_backup_asset() -> None:
    assert _cfg().schedule == "backup_asset"


def test_groups_by_retention_longest_first() -> None:
    got = groups(["log", "dag_run", "job"], {"log": 30, "dag_run": 90, "job": 30})
    assert [(g.retention_days, g.tables) for g in got] == [(90, ("dag_run",)), (30, ("log", "job"))]


def test_windows_walk_from_the_oldest_row_to_the_cutoff_oldest_first() -> None:
    final = NOW - dt.timedelta(days=30)
    cuts = windows(NOW - dt.timedelta(days=100), final, window_days=30, max_windows=12)
    assert len(cuts) == 3 and cuts[-1] == final and cuts == sorted(cuts)


def test_windows_widen_to_respect_the_cap() -> None:
    final = NOW - dt.timedelta(days=30)
    cuts = windows(NOW - dt.timedelta(days=1000), final, window_days=1, max_windows=5)
    assert len(cuts) == 5 and cuts[-1] == final


def test_no_window_when_nothing_is_older_than_the_cutoff() -> None:
    assert windows(NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=30), 30, 12) == []
    assert windows(None, NOW, 30, 12) == []


def test_dry_run_output_is_parsed_per_table() -> None:
    out = (
        "Performing dry run for db cleanup.\n\nPerforming dry run for table log\n"
        "Found 12 rows meeting deletion criteria.\n\nPerforming dry run for table job\n"
        "Found 0 rows meeting deletion criteria.\n"
    )
    assert parse_found_rows(out) == {"log": 12, "job": 0}


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("_airflow_deleted__log__20261123120000", "log"),
        ("_airflow_deleted__task_instance_history__20261123120000__b3", "task_instance_history"),
    ],
)
def test_archive_table_maps_to_its_source(name: str, table: str) -> None:
    assert source_table(name) == table


class FakeS3:
    """In-memory stand-in for the one call the gate makes (pure-logic test)."""

    class exceptions:
        class NoSuchKey(Exception):
            pass

    def __init__(self, pointer: dict[str, Any] | None) -> None:
        self.pointer = pointer

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if self.pointer is None:
            raise self.exceptions.NoSuchKey(Key)
        return {"Body": io.BytesIO(json.dumps(self.pointer).encode())}


def _pointer(hours: float) -> dict[str, Any]:
    return {"format": 1, "key": "k", "verified_at": (NOW - dt.timedelta(hours=hours)).isoformat()}


def test_recent_verified_backup_passes_the_gate() -> None:
    status = check_latest_backup(FakeS3(_pointer(2)), "b", "p", 26, now=NOW)
    assert status.ok and require_recent_backup(status, override=False) == []


def test_stale_backup_is_refused() -> None:
    status = check_latest_backup(FakeS3(_pointer(48)), "b", "p", 26, now=NOW)
    with pytest.raises(BackupNotVerifiedError, match=r"48\.0 h old"):
        require_recent_backup(status, override=False)


def test_missing_pointer_is_refused_naming_where_it_looked() -> None:
    status = check_latest_backup(FakeS3(None), "bkt", "pre", 26, now=NOW)
    with pytest.raises(BackupNotVerifiedError, match=r"s3://bkt/pre/latest-verified\.json"):
        require_recent_backup(status, override=False)


def test_param_override_turns_the_refusal_into_a_warning() -> None:
    status = check_latest_backup(FakeS3(None), "b", "p", 26, now=NOW)
    assert "overridden" in require_recent_backup(status, override=True)[0]


DB = {"system_identifier": "7714290499644688497", "dbname": "airflow"}


def test_gate_refuses_a_pointer_for_another_database() -> None:
    """Issue 14 item 8: a fresh pointer of another DB (same bucket/prefix) does not pass."""
    for other in ({**DB, "dbname": "airflow_staging"}, {**DB, "system_identifier": "1"}):
        status = check_latest_backup(
            FakeS3({**_pointer(2), "database": other}), "b", "p", 26, now=NOW, database=DB
        )
        assert not status.ok
        with pytest.raises(BackupNotVerifiedError, match=r"is a backup of database .* but this DAG purges"):
            require_recent_backup(status, override=False)


def test_gate_passes_a_pointer_of_this_database() -> None:
    status = check_latest_backup(FakeS3({**_pointer(2), "database": DB}), "b", "p", 26, now=NOW, database=DB)
    assert status.ok and status.notes == []
    # a side without pg_control_system() access compares the name only
    nosys = {"system_identifier": None, "dbname": "airflow"}
    assert check_latest_backup(
        FakeS3({**_pointer(2), "database": nosys}), "b", "p", 26, now=NOW, database=DB
    ).ok


def test_gate_notes_a_pointer_written_before_identities() -> None:
    status = check_latest_backup(FakeS3(_pointer(2)), "b", "p", 26, now=NOW, database=DB)
    assert status.ok
    assert "does not say which database it backs up" in status.notes[0]


def test_database_identity_without_pg_control_system_access_is_the_name() -> None:
    from airflow_ops.backup.identity import database_identity

    class Cur:
        def __init__(self) -> None:
            self.sql: list[str] = []
            self.rows = {"SELECT current_database()": ("airflow",)}

        def execute(self, sql: str) -> None:
            self.sql.append(sql)
            if "pg_control_system" in sql:
                raise PermissionError("permission denied for function pg_control_system")

        def fetchone(self) -> tuple[str]:
            return self.rows[self.sql[-1]]

    cur = Cur()
    assert database_identity(cur) == {"system_identifier": None, "dbname": "airflow"}
    assert cur.sql[-1] == "ROLLBACK TO SAVEPOINT airflow_ops_identity"


@pytest.mark.process
def test_the_export_directory_of_a_killed_task_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    """A task killed mid-export leaves its CSVs (purged rows) in a private directory named after
    its pid; the next archive step removes it, never a live process's (issue 13, kill matrix)."""
    import os

    from airflow_ops.dbclean.runner import STAGING_PREFIX, remove_abandoned_staging

    gone = tmp_path / f"{STAGING_PREFIX}{_exited_pid()}-abc"
    live = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-def"
    other = tmp_path / "unrelated-123-x"
    for d in (gone, live, other):
        d.mkdir()
        (d / "log.csv").write_text("id\n1\n")
    assert remove_abandoned_staging(str(tmp_path)) == [str(gone)]
    assert not gone.exists() and live.exists() and other.exists()


def _exited_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
