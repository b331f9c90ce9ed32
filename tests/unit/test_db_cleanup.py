"""Pure logic of the metadata DB cleanup: table catalogue, windows, CLI output, backup gate, config."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_ops import compat
from airflow_ops.backup.pointer import VerifiedBackup, write_latest_verified
from airflow_ops.dbclean.backup_gate import BackupNotVerifiedError, check_latest_backup, require_recent_backup
from airflow_ops.dbclean.plan import CleanGroup, FutureCutoffError, groups, refuse_future_cutoff, windows
from airflow_ops.dbclean.runner import failed_tables, parse_found_rows, source_table
from airflow_ops.dbclean.tables import EXCLUDED_TABLES, catalogue, cleanable, effective_tables
from airflow_ops.exceptions import ConfigError
from airflow_ops.kinds.db_cleanup.schema import DbCleanupConfig
from airflow_ops.registry import parse
from tests.unit.fake_s3 import FakeBucket

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _cfg(**kw: Any) -> DbCleanupConfig:
    cfg = parse({"kind": "db_cleanup", "dag_id": "x", **kw})
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


def _pointer(hours: float, database: dict[str, Any] | None = None) -> FakeBucket:
    """A bucket whose latest-verified pointer was written by the writer, verified ``hours`` before NOW."""
    bucket = FakeBucket()
    record = VerifiedBackup(
        key="p/2026-11-23T000000Z/metadata.dump",
        verified_at=(NOW - dt.timedelta(hours=hours)).isoformat(),
        logical_date="2026-11-23T00:00:00+00:00",
        database=database or {},
    )
    write_latest_verified(bucket, "b", "p", record)
    return bucket


def test_recent_verified_backup_passes_the_gate() -> None:
    status = check_latest_backup(_pointer(2), "b", "p", 26, now=NOW)
    assert status.ok and require_recent_backup(status, override=False) == []


def test_stale_backup_is_refused() -> None:
    status = check_latest_backup(_pointer(48), "b", "p", 26, now=NOW)
    with pytest.raises(BackupNotVerifiedError, match=r"48\.0 h old"):
        require_recent_backup(status, override=False)


def test_missing_pointer_is_refused_naming_where_it_looked() -> None:
    status = check_latest_backup(FakeBucket(), "bkt", "pre", 26, now=NOW)
    with pytest.raises(BackupNotVerifiedError, match=r"s3://bkt/pre/latest-verified\.json"):
        require_recent_backup(status, override=False)


def test_param_override_turns_the_refusal_into_a_warning() -> None:
    status = check_latest_backup(FakeBucket(), "b", "p", 26, now=NOW)
    assert "overridden" in require_recent_backup(status, override=True)[0]


DB = {"system_identifier": "7714290499644688497", "dbname": "airflow"}


def test_gate_refuses_a_pointer_for_another_database() -> None:
    """Issue 14 item 8: a fresh pointer of another DB (same bucket/prefix) does not pass."""
    for other in ({**DB, "dbname": "airflow_staging"}, {**DB, "system_identifier": "1"}):
        status = check_latest_backup(_pointer(2, other), "b", "p", 26, now=NOW, database=DB)
        assert not status.ok
        with pytest.raises(BackupNotVerifiedError, match=r"is a backup of database .* but this DAG purges"):
            require_recent_backup(status, override=False)


def test_gate_passes_a_pointer_of_this_database() -> None:
    status = check_latest_backup(_pointer(2, DB), "b", "p", 26, now=NOW, database=DB)
    assert status.ok and status.notes == []
    # a side without pg_control_system() access compares the name only
    nosys = {"system_identifier": None, "dbname": "airflow"}
    assert check_latest_backup(_pointer(2, nosys), "b", "p", 26, now=NOW, database=DB).ok


def test_gate_notes_a_pointer_written_before_identities() -> None:
    status = check_latest_backup(_pointer(2), "b", "p", 26, now=NOW, database=DB)
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


# --- Issue 23: the cutoff `airflow db clean` is given, and the gate reading what the writer wrote ---


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param(30, dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC), id="30-days"),
        pytest.param(1, dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC), id="1-day"),
        pytest.param(365, dt.datetime(2025, 11, 23, 12, 0, tzinfo=dt.UTC), id="a-year"),
    ],
)
def test_final_cutoff_lies_retention_days_before_now(days: int, expected: dt.datetime) -> None:
    assert CleanGroup(days, ("log",)).final_cutoff(NOW) == expected


@pytest.mark.parametrize("days", [pytest.param(0, id="zero"), pytest.param(-30, id="negative")])
def test_a_retention_that_puts_the_cutoff_at_or_after_now_is_refused(days: int) -> None:
    with pytest.raises(FutureCutoffError, match="not in the past"):
        CleanGroup(days, ("log",)).final_cutoff(NOW)


def test_a_cutoff_after_the_wall_clock_is_refused_whatever_now_the_caller_passed() -> None:
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(FutureCutoffError) as caught:
        refuse_future_cutoff(tomorrow, now=tomorrow + dt.timedelta(days=400))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(
        f"refusing to clean: cutoff {tomorrow.isoformat()} is not in the past"
    )


def test_a_cutoff_a_second_before_now_passes_and_one_at_now_is_refused() -> None:
    just_before = NOW - dt.timedelta(seconds=1)
    assert refuse_future_cutoff(just_before, NOW) == just_before
    with pytest.raises(FutureCutoffError):
        refuse_future_cutoff(NOW, NOW)


def test_a_cutoff_without_time_zone_is_refused() -> None:
    with pytest.raises(FutureCutoffError, match="no time zone"):
        refuse_future_cutoff(dt.datetime(2020, 1, 1))


def test_run_clean_refuses_a_future_cutoff_before_touching_the_database() -> None:
    """Nothing listens on port 9: had the run reached the database it would fail another way."""
    from airflow_ops.connections import PostgresTarget
    from airflow_ops.dbclean.service import CleanSettings, run_clean

    settings = CleanSettings(
        tables=["log", "job"],
        retention_days={"log": 30, "job": -1},
        batch_size=1000,
        window_days=30,
        max_windows=12,
        timeout_s=5,
    )
    target = PostgresTarget(host="127.0.0.1", port=9, user="nobody", dbname="none")
    with pytest.raises(FutureCutoffError, match="not in the past"):
        run_clean(target, settings, dry_run=False, now=NOW)


def test_the_gate_reads_the_age_and_key_of_what_mark_verified_wrote() -> None:
    from airflow_ops.backup.pointer import mark_verified

    bucket = FakeBucket()
    manifest = type(
        "Manifest",
        (),
        {
            "key": "p/2026-11-22T000000Z/metadata.dump",
            "bucket": "b",
            "dag_id": "ops_metadata_backup",
            "logical_date": "2026-11-22T00:00:00+00:00",
            "sha256": "a" * 64,
            "size_bytes": 10,
            "database": DB,
        },
    )()
    assert mark_verified(bucket, manifest, "p", "2026-11-23T09:30:00+00:00", False)
    status = check_latest_backup(bucket, "b", "p", 3, now=NOW, database=DB)
    # NOW is 12:00 on the 23rd: verified 2.5 h earlier, inside the 3 h limit
    assert (status.ok, status.key, status.age_hours) == (True, "p/2026-11-22T000000Z/metadata.dump", 2.5)
    assert status.verified_at == "2026-11-23T09:30:00+00:00"
    assert status.notes == []
    assert not check_latest_backup(bucket, "b", "p", 2.4, now=NOW, database=DB).ok


def test_the_gate_reads_a_pointer_written_before_identities_were_recorded() -> None:
    """A pointer of 2026-11 has no ``database`` key at all: it passes, with a note."""
    bucket = FakeBucket()
    legacy = {"format": 1, "key": "p/x/metadata.dump", "verified_at": "2026-11-23T10:00:00+00:00"}
    bucket.put_object("b", "p/latest-verified.json", json.dumps(legacy).encode())
    status = check_latest_backup(bucket, "b", "p", 26, now=NOW, database=DB)
    assert status.ok and status.age_hours == 2.0
    assert "does not say which database" in status.notes[0]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        pytest.param(b"{not json", "not valid JSON", id="not-json"),
        pytest.param(b"[1, 2]", "not a pointer object", id="a-list"),
        pytest.param(b'{"format": 1, "key": "k"}', "has no 'verified_at'", id="no-verified-at"),
        pytest.param(
            b'{"format": 1, "verified_at": "2026-11-23T10:00:00+00:00"}', "has no 'key'", id="no-key"
        ),
        pytest.param(
            b'{"format": 1, "key": "k", "verified_at": "yesterday"}', "is not ISO 8601", id="bad-date"
        ),
        pytest.param(
            b'{"format": 2, "key": "k", "verified_at": "2026-11-23T10:00:00+00:00"}', "has format 2", id="v2"
        ),
        pytest.param(
            b'{"key": "k", "verified_at": "2026-11-23T10:00:00+00:00", "size_bytes": "10"}',
            "size_bytes '10' should be of type int",
            id="wrong-type",
        ),
    ],
)
def test_the_gate_refuses_a_pointer_it_cannot_read_saying_why(body: bytes, why: str) -> None:
    bucket = FakeBucket()
    bucket.put_object("b", "p/latest-verified.json", body)
    status = check_latest_backup(bucket, "b", "p", 26, now=NOW)
    assert not status.ok and status.key is None
    assert status.reason.startswith("cannot read s3://b/p/latest-verified.json: ")
    assert why in status.reason


def test_windows_are_whole_seconds_one_past_each_window_and_end_at_the_cutoff() -> None:
    """Oldest row 100 days back, cutoff 30 days back, 30-day windows: 70 days in 3 windows."""
    final = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC)
    oldest = dt.datetime(2026, 8, 15, 12, 0, 0, 250000, tzinfo=dt.UTC)
    assert windows(oldest, final, window_days=30, max_windows=12) == [
        dt.datetime(2026, 9, 14, 12, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 14, 12, 0, 1, tzinfo=dt.UTC),
        final,
    ]


def test_windows_keep_their_width_when_exactly_the_cap_is_needed() -> None:
    final = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC)
    oldest = dt.datetime(2026, 8, 15, 12, 0, tzinfo=dt.UTC)
    assert windows(oldest, final, window_days=30, max_windows=3) == [
        dt.datetime(2026, 9, 14, 12, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 14, 12, 0, 1, tzinfo=dt.UTC),
        final,
    ]


def test_windows_widen_evenly_beyond_the_cap() -> None:
    """90 days in at most 3 windows of 1 day: three windows of 30 days."""
    final = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC)
    oldest = final - dt.timedelta(days=90)
    assert windows(oldest, final, window_days=1, max_windows=3) == [
        dt.datetime(2026, 8, 25, 12, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 9, 24, 12, 0, 1, tzinfo=dt.UTC),
        final,
    ]


def test_an_oldest_row_at_the_cutoff_needs_no_window() -> None:
    final = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC)
    assert windows(final, final, 30, 12) == []
    assert windows(final - dt.timedelta(seconds=1), final, 30, 12) == [final]


def test_a_window_that_rounds_up_onto_the_cutoff_is_not_cleaned_twice() -> None:
    """1 day and half a second: the first window ends at oldest + 1 day = final - 0.5 s, whose whole
    second plus one is the cutoff itself."""
    final = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC)
    assert windows(final - dt.timedelta(days=1, seconds=0.5), final, window_days=1, max_windows=12) == [final]


def test_the_refusal_of_a_future_cutoff_names_the_cutoff_the_clock_and_the_fix() -> None:
    with pytest.raises(FutureCutoffError) as caught:
        refuse_future_cutoff(NOW, NOW)
    assert str(caught.value) == (
        "refusing to clean: cutoff 2026-11-23T12:00:00+00:00 is not in the past "
        "(now 2026-11-23T12:00:00+00:00); airflow db clean would purge rows still inside their "
        "retention: check retention_days and the worker's clock"
    )
    with pytest.raises(FutureCutoffError) as caught:
        refuse_future_cutoff(dt.datetime(2020, 1, 1))
    assert str(caught.value) == (
        "refusing to clean: cutoff 2020-01-01T00:00:00 has no time zone, so it cannot be shown to lie in the "
        "past; pass an aware UTC datetime"
    )


def test_the_gate_verdicts_in_full() -> None:
    from airflow_ops.dbclean.backup_gate import BackupStatus

    where = "s3://b/p/latest-verified.json"
    assert check_latest_backup(FakeBucket(), "b", "p", 26, now=NOW) == BackupStatus(
        None, None, None, False, f"no verified backup pointer at {where}"
    )
    broken = FakeBucket()
    broken.put_object("b", "p/latest-verified.json", b"[]")
    assert check_latest_backup(broken, "b", "p", 26, now=NOW) == BackupStatus(
        None, None, None, False, f"cannot read {where}: {where} holds JSON but not a pointer object"
    )
    key = "p/2026-11-23T000000Z/metadata.dump"
    assert check_latest_backup(_pointer(1.2345), "b", "p", 26, now=NOW) == BackupStatus(
        key,
        "2026-11-23T10:45:55.800000+00:00",
        1.23,
        True,
        f"latest verified backup {key} is 1.2 h old (limit 26 h)",
    )
    other = {"system_identifier": "1", "dbname": "staging"}
    assert check_latest_backup(_pointer(2, other), "b", "p", 26, now=NOW, database=DB) == BackupStatus(
        key,
        "2026-11-23T10:00:00+00:00",
        2.0,
        False,
        f"{where} is a backup of database 'staging' of cluster 1, but this DAG purges database 'airflow' "
        "of cluster 7714290499644688497: point backup_bucket/backup_prefix at the backup DAG of this "
        "database",
    )


def test_a_pointer_without_time_zone_is_read_as_utc() -> None:
    bucket = FakeBucket()
    write_latest_verified(bucket, "b", "p", VerifiedBackup(key="k", verified_at="2026-11-23T09:00:00"))
    status = check_latest_backup(bucket, "b", "p", 26, now=NOW)
    assert (status.age_hours, status.verified_at) == (3.0, "2026-11-23T09:00:00+00:00")


def test_the_gate_without_now_measures_against_the_clock() -> None:
    bucket = FakeBucket()
    verified = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)
    write_latest_verified(bucket, "b", "p", VerifiedBackup(key="k", verified_at=verified.isoformat()))
    assert check_latest_backup(bucket, "b", "p", 26).age_hours == 5.0


def test_the_note_names_the_database_that_cannot_be_confirmed() -> None:
    status = check_latest_backup(_pointer(2), "b", "p", 26, now=NOW, database=DB)
    assert status.notes == [
        "s3://b/p/latest-verified.json does not say which database it backs up (written before airflow-ops "
        "recorded it): cannot confirm it is database 'airflow' of cluster 7714290499644688497; the next "
        "verified backup records it"
    ]


def test_the_refusal_says_how_to_get_a_backup_or_override() -> None:
    status = check_latest_backup(_pointer(48), "b", "p", 26, now=NOW)
    with pytest.raises(BackupNotVerifiedError) as caught:
        require_recent_backup(status, override=False)
    assert str(caught.value) == (
        "refusing to purge the metadata DB: latest verified backup p/2026-11-23T000000Z/metadata.dump "
        "is 48.0 h old (limit 26 h). Run the metadata backup DAG (ops_metadata_backup) and let it verify, "
        "or trigger this DAG with param `skip_backup_check: true` if you accept purging without a recent "
        "verified backup."
    )
    assert require_recent_backup(status, override=True) == [
        f"backup check overridden by param: {status.reason}"
    ]


def test_the_age_is_hours_and_a_backup_exactly_at_the_limit_passes() -> None:
    status = check_latest_backup(_pointer(48), "b", "p", 48, now=NOW)
    assert (status.ok, status.age_hours) == (True, 48.0)
    other = {"system_identifier": "1", "dbname": "staging"}
    mismatch = check_latest_backup(_pointer(1.2345, other), "b", "p", 48, now=NOW, database=DB)
    assert (mismatch.ok, mismatch.age_hours) == (False, 1.23)
