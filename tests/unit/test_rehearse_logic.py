"""The rehearsal's pure decisions: which environment it builds, how it reads a failed migration,
which DAG files it calls broken, and the verdict, headline and exit code of its report."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from airflow_ops_tools.contract import UsageError
from airflow_ops_tools.progress import Progress
from airflow_ops_tools.rehearse import cfgcheck, dagcheck, envs, migration
from airflow_ops_tools.rehearse.migration import MigrationResult, Statement, TableLock
from airflow_ops_tools.rehearse.report import FAILED, FINDINGS, PASSED, Rehearsal

# -- environments -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["3.3", "2.10.5", "3.3.2rc1", "latest", "3.3.2; rm -rf /", ""])
def test_only_an_airflow_3_release_number_is_a_target(bad: str) -> None:
    with pytest.raises(UsageError, match="--to must be an Airflow 3 release"):
        envs.check_release(bad)
    assert envs.check_release(" 3.1.8 ") == "3.1.8"


def _lock(root: Path, minor: str, airflow: str) -> Path:
    (root / "requirements").mkdir(exist_ok=True)
    lock = root / "requirements" / f"lock-{minor}.txt"
    lock.write_text(f"apache-airflow=={airflow} \\\n    --hash=sha256:00\nboto3==1.35.0\n")
    return lock


def test_the_checkouts_lock_is_used_only_for_its_exact_release(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "3.3", "3.3.2")
    assert envs.lock_for("3.3.2", tmp_path) == lock
    assert envs.lock_for("3.3.1", tmp_path) is None  # another patch: resolved, not the lock
    assert envs.lock_for("3.3.20", tmp_path) is None
    assert envs.lock_for("3.2.2", tmp_path) is None
    args, _ = envs.plan("3.3.2", [], None, tmp_path)
    assert args == ["sync", "--require-hashes", str(lock)]
    args, _ = envs.plan("3.3.1", ["apache-airflow-providers-google"], Path("/wh"), tmp_path)
    assert args == [
        "install",
        "apache-airflow[postgres]==3.3.1",
        "apache-airflow-core==3.3.1",
        "apache-airflow-providers-google",
        "--no-index",
        "--find-links",
        "/wh",
    ]


def test_the_cache_key_changes_with_everything_that_changes_the_environment(tmp_path: Path) -> None:
    _lock(tmp_path, "3.3", "3.3.2")
    keys = {
        envs.plan("3.3.2", [], None, tmp_path)[1],
        envs.plan("3.3.2", ["x"], None, tmp_path)[1],
        envs.plan("3.3.2", [], Path("/wh"), tmp_path)[1],
        envs.plan("3.3.1", [], None, tmp_path)[1],
    }
    assert len(keys) == 4
    assert envs.plan("3.3.2", [], None, tmp_path)[1] == envs.plan("3.3.2", [], None, tmp_path)[1]


def test_pips_index_settings_reach_uv_only_where_uv_has_none() -> None:
    env = envs.uv_environ(
        {"PIP_INDEX_URL": "https://mirror/simple", "PIP_EXTRA_INDEX_URL": "https://x/simple"}
    )
    assert env["UV_DEFAULT_INDEX"] == "https://mirror/simple" and env["UV_INDEX"] == "https://x/simple"
    env = envs.uv_environ({"PIP_INDEX_URL": "https://mirror/simple", "UV_INDEX_URL": "https://uv/simple"})
    assert "UV_DEFAULT_INDEX" not in env and env["UV_INDEX_URL"] == "https://uv/simple"
    assert "VIRTUAL_ENV" not in envs.uv_environ({"VIRTUAL_ENV": "/deployment/venv"})


def test_a_cached_environment_is_reused_and_a_half_built_one_is_not(tmp_path: Path) -> None:
    _lock(tmp_path, "3.3", "3.3.2")
    _, key = envs.plan("3.3.2", [], None, tmp_path)
    slot = tmp_path / "cache" / f"airflow-3.3.2-{key}"
    (slot / "bin").mkdir(parents=True)
    with pytest.raises(UsageError, match="uv"):  # no marker: a build is needed, and there is no uv here
        envs.ensure_env("3.3.2", cache=tmp_path / "cache", uv=str(tmp_path / "no-uv"), root=tmp_path)
    (slot / ".airflow-ops-env").write_text("3.3.2\n")
    env = envs.ensure_env("3.3.2", cache=tmp_path / "cache", root=tmp_path)
    assert env.cached and env.path == slot and env.airflow == str(slot / "bin" / "airflow")
    with pytest.raises(UsageError, match="uv"):  # extra providers on top of the lock: another slot
        envs.ensure_env(
            "3.3.2", cache=tmp_path / "cache", uv=str(tmp_path / "no-uv"), extra=["x"], root=tmp_path
        )


def test_a_missing_wheelhouse_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--wheelhouse"):
        envs.ensure_env("3.3.2", cache=tmp_path, wheelhouse=tmp_path / "nope")


# -- the migration's output -----------------------------------------------------------------------------

FAILED_OUTPUT = """\
INFO  [alembic.runtime.migration] Running upgrade 1d6611b6ab7c -> 5ccf7e3a1c2d, Add xcom dag_result.
INFO  [alembic] Running upgrade acc215baed80 -> 8812eb67b63c, change deadline interval to JSON.
Traceback (most recent call last):
  File "x.py", line 1, in <module>
psycopg2.errors.FeatureNotSupported: cannot alter type of a column used by a view or rule
DETAIL:  rule _RETURN on view ops_deadline_report depends on column "interval"

The above exception was the direct cause of the following exception:
sqlalchemy.exc.NotSupportedError: (psycopg2.errors.FeatureNotSupported) cannot alter type of a column
[SQL: ALTER TABLE deadline_alert ALTER COLUMN interval TYPE JSON USING to_json(interval)]
(Background on this error at: https://sqlalche.me/e/20/tw8g)
"""


def test_a_failed_migration_is_read_as_error_statement_and_detail() -> None:
    error, sql, detail = migration.parse_failure(FAILED_OUTPUT)
    assert (
        error == "psycopg2.errors.FeatureNotSupported: cannot alter type of a column used by a view or rule"
    )
    assert sql == "ALTER TABLE deadline_alert ALTER COLUMN interval TYPE JSON USING to_json(interval)"
    assert detail == 'rule _RETURN on view ops_deadline_report depends on column "interval"'


def test_an_unrecognised_failure_falls_back_to_its_last_line_and_masks_secrets() -> None:
    error, sql, detail = migration.parse_failure(
        "connecting\nFATAL: postgresql://u:Sup3rSecretPw@h/db refused\n"
    )
    assert error == "FATAL: postgresql://u:***@h/db refused"
    assert sql is None and detail is None


def test_the_migrations_environment_leaves_the_deployment_behind() -> None:
    from airflow_ops.connections import PostgresTarget

    target = PostgresTarget("db", 5433, "rehearsal", "scratch_1", "Pw-Long-Secret", "require")
    base = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://live/airflow",
        "AIRFLOW_CONFIG": "/opt/airflow/airflow.cfg",
        "AIRFLOW_HOME": "/opt/airflow",
        "PGDATABASE": "airflow",
        "PYTHONPATH": "/deployment",
        "PATH": "/usr/bin",
    }
    env = migration.airflow_environ(target, "/tmp/home", base)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
        "postgresql+psycopg2://rehearsal@db:5433/scratch_1"
    )
    assert "Pw-Long-Secret" not in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["PGPASSWORD"] == "Pw-Long-Secret" and env["PGSSLMODE"] == "require"
    assert env["AIRFLOW_HOME"] == "/tmp/home" and "AIRFLOW_CONFIG" not in env
    assert "PGDATABASE" not in env and "PYTHONPATH" not in env and env["PATH"] == "/usr/bin"
    assert env["PGAPPNAME"] == migration.APP_NAME


def test_a_lock_seen_once_is_reported_as_shorter_than_a_sample() -> None:
    assert TableLock("dag", 10.0, 10.0).describe() == f"< {migration.SAMPLE_S} s"
    assert TableLock("task_instance", 10.0, 22.4, samples=120).describe() == "12.4 s"


# -- DAG files and configuration ----------------------------------------------------------------------


def test_only_a_file_that_imports_now_and_fails_then_is_a_break() -> None:
    now = {"a.py": None, "b.py": None, "c.py": "ImportError: x", "d.py": "SyntaxError", "new.py": None}
    then = {"a.py": None, "b.py": "ModuleNotFoundError: gone", "c.py": None, "d.py": "SyntaxError"}
    found = dagcheck.compare(Path("/dags"), now, then)
    assert found.breaks == {"b.py": "ModuleNotFoundError: gone"}
    assert found.fixed == ["c.py"]
    assert found.failing_both == {"d.py": "SyntaxError"}
    assert found.checked == 5


def test_the_files_options_are_read_without_interpolation(tmp_path: Path) -> None:
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text("[core]\nCheck_SLAs = True\nfmt = %(asctime)s\n[logging]\nx = 1\n")
    assert cfgcheck.file_options(cfg) == {"core.check_slas", "core.fmt", "logging.x"}


# -- the report ---------------------------------------------------------------------------------------


def _ok(**kw: object) -> MigrationResult:
    base: dict[str, object] = {"ok": True, "seconds": 41.2, "revision_before": "a", "revision_after": "b"}
    base.update(kw)
    return MigrationResult(**base)  # type: ignore[arg-type]


def test_the_headline_names_time_locks_breaks_and_removed_keys() -> None:
    r = Rehearsal("3.2.2", "3.3.2", "s3://b/k", "scratch")
    r.migration = _ok(
        locks=[
            TableLock("task_instance", 0, 12.2, 100),
            TableLock("dag", 0, 1, 5),
            TableLock("xcom", 0, 3, 9),
        ]
    )
    r.check_migrations = {"ok": True}
    r.dags = dagcheck.compare(Path("/d"), {"a.py": None, "b.py": None}, {"a.py": "E: 1", "b.py": "E: 2"})
    r.config = cfgcheck.ConfigFindings("/cfg", lint=["Removed `check_slas` from `core`."], removed=["core.x"])
    assert r.headline() == (
        "3.2.2 → 3.3.2: migration 41 s, 3 tables locked (longest: task_instance 12.2 s), "
        "2 DAG files break, 2 config keys removed"
    )
    assert r.exit_code == FINDINGS and r.verdict == "findings"


def test_a_removed_key_that_lint_already_names_is_counted_once() -> None:
    r = Rehearsal("3.2.2", "3.3.2", "b", "s")
    r.config = cfgcheck.ConfigFindings(
        "/cfg", lint=["Removed `check_slas` from `core`."], removed=["core.check_slas"]
    )
    assert r.config_issues() == ["Removed `check_slas` from `core`."]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({}, PASSED),
        ({"row_changes": {"public.log": (10, 11)}}, PASSED),  # db migrate logs an event: not a loss
        ({"row_changes": {"public.dag_run": (10, 9)}}, FINDINGS),
        ({"row_changes": {"public.old": (10, -1)}}, FINDINGS),  # a table gone with its rows
        ({"check_migrations": {"ok": False}}, FAILED),
        ({"migration": None}, FAILED),
        ({"migration": _ok(ok=False, failed_revision="8812eb67b63c", error="boom")}, FAILED),
    ],
)
def test_the_exit_code(change: dict[str, object], code: int) -> None:
    r = Rehearsal("3.2.2", "3.3.2", "b", "s", migration=_ok(), check_migrations={"ok": True})
    for key, value in change.items():
        setattr(r, key, value)
    assert r.exit_code == code


def test_a_failed_migration_headline_names_the_revision_and_the_error() -> None:
    r = Rehearsal("3.2.2", "3.3.2", "b", "s")
    r.migration = _ok(ok=False, seconds=7.0, failed_revision="8812eb67b63c", error="psycopg2.errors.X: no")
    assert (
        r.headline()
        == "3.2.2 → 3.3.2: migration FAILED at revision 8812eb67b63c after 7 s: psycopg2.errors.X: no"
    )
    data = r.as_dict()
    assert data["exit_code"] == 2 and data["migration"]["failed_revision"] == "8812eb67b63c"


def test_the_json_report_keeps_its_schema() -> None:
    r = Rehearsal("3.2.2", "3.3.2", "b", "s", migration=_ok(longest=Statement(3.5, "ALTER TABLE x")))
    r.check_migrations = {"ok": True, "message": "ok"}
    assert set(r.as_dict()) == {
        "format", "headline", "verdict", "exit_code", "from_version", "to_version", "backup",
        "scratch_database", "scratch_kept", "drop_scratch", "restore", "environment", "migration",
        "check_migrations", "row_counts", "dags", "config", "seconds", "peak_rss_mb",
    }  # fmt: skip
    assert r.as_dict()["migration"]["longest_statement"] == {"seconds": 3.5, "sql": "ALTER TABLE x"}


# -- progress -----------------------------------------------------------------------------------------


def test_progress_is_silent_off_a_terminal_and_rewrites_one_line_on_one() -> None:
    off = io.StringIO()
    Progress(stream=off).show("restoring", force=True)  # StringIO is not a terminal
    assert off.getvalue() == ""
    on = io.StringIO()
    bar = Progress(enabled=True, stream=on, every_s=0)
    bar.bytes("restoring", 4_000_000)(1_000_000)
    bar.bytes("restoring", 4_000_000)(4_000_000)
    bar.done()
    assert on.getvalue().count("\r\x1b[K") == 3
    assert "restoring: 1.0 of 4.0 MB (25%)" in on.getvalue() and "(100%)" in on.getvalue()
