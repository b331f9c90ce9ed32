"""The airflow.cfg renderer: what it writes, what it refuses, and how it treats an existing file."""

from __future__ import annotations

import configparser
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_ops_tools.cfgrender import PROFILES, RenderRefused, render, sample_environ, write_config

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "render_cfg.py"


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_profile_renders_its_executor(profile: str) -> None:
    cfg = parsed(render(profile, sample_environ(profile)).text)
    assert cfg["core"]["executor"] == PROFILES[profile]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_secret_values_never_appear_in_the_rendered_file(profile: str) -> None:
    environ = sample_environ(profile)
    text = render(profile, environ).text
    for name in (
        "AIRFLOW_OPS_FERNET_KEY",
        "AIRFLOW_OPS_JWT_SECRET",
        "AIRFLOW_OPS_API_SECRET_KEY",
        "AIRFLOW_OPS_ADMIN_PASSWORD",
        "AIRFLOW_OPS_SQL_ALCHEMY_CONN",
    ):
        assert environ[name] not in text, name
    cfg = parsed(text)
    assert cfg["core"]["fernet_key"] == "${AIRFLOW_OPS_FERNET_KEY}"
    assert cfg["api_auth"]["jwt_secret"] == "${AIRFLOW_OPS_JWT_SECRET}"


def test_secret_cmd_renders_a_cmd_option_and_checks_what_it_prints(tmp_path: Path) -> None:
    key_file = tmp_path / "fernet"
    environ = sample_environ("celery")
    key_file.write_text(environ.pop("AIRFLOW_OPS_FERNET_KEY"))
    environ["AIRFLOW_OPS_FERNET_KEY_CMD"] = f"cat {key_file}"
    cfg = parsed(render("celery", environ).text)
    assert cfg["core"]["fernet_key_cmd"] == f"cat {key_file}"
    assert not cfg.has_option("core", "fernet_key")


def test_secret_cmd_printing_a_weak_key_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "fernet"
    key_file.write_text("not-a-key")
    environ = sample_environ("celery")
    del environ["AIRFLOW_OPS_FERNET_KEY"]
    environ["AIRFLOW_OPS_FERNET_KEY_CMD"] = f"cat {key_file}"
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_FERNET_KEY is not a 32-byte url-safe base64"):
        render("celery", environ)


def test_secret_from_the_secrets_backend_renders_a_secret_option() -> None:
    environ = sample_environ("kubernetes")
    del environ["AIRFLOW_OPS_JWT_SECRET"]
    environ["AIRFLOW_OPS_JWT_SECRET_SECRET"] = "airflow/jwt_secret"
    rendered = render("kubernetes", environ)
    assert parsed(rendered.text)["api_auth"]["jwt_secret_secret"] == "airflow/jwt_secret"
    assert any("secrets backend" in w for w in rendered.warnings)


def test_values_come_from_the_environment_with_template_defaults() -> None:
    default = parsed(render("local", sample_environ("local")).text)
    custom = parsed(render("local", sample_environ("local", AIRFLOW_OPS_PARALLELISM="64")).text)
    assert default["core"]["parallelism"] == "32"
    assert custom["core"]["parallelism"] == "64"


def test_percent_signs_are_escaped_for_configparser() -> None:
    text = render("local", sample_environ("local", AIRFLOW_OPS_DAGS_FOLDER="/srv/100%dags")).text
    cfg = configparser.ConfigParser()
    cfg.read_string(text)
    assert cfg["core"]["dags_folder"] == "/srv/100%dags"


@pytest.mark.parametrize(
    ("section", "option"),
    [
        ("logging", "dag_processor_child_process_log_directory"),
        ("dag_processor", "refresh_interval"),
        ("dag_processor", "min_file_process_interval"),
        ("api", "base_url"),
        ("api_auth", "jwt_secret"),
        ("scheduler", "enable_health_check"),
        ("logging", "remote_base_log_folder"),
    ],
)
def test_options_live_in_their_airflow_3_sections(section: str, option: str) -> None:
    assert parsed(render("local", sample_environ("local")).text).has_option(section, option)


def test_airflow_2_homes_are_not_rendered() -> None:
    cfg = parsed(render("celery", sample_environ("celery")).text)
    assert not cfg.has_option("scheduler", "child_process_log_directory")
    assert not cfg.has_option("scheduler", "dag_dir_list_interval")
    assert not cfg.has_section("webserver")


def test_celery_profile_has_broker_and_result_backend() -> None:
    cfg = parsed(render("celery", sample_environ("celery")).text)
    assert cfg["celery"]["broker_url"] == "${AIRFLOW_OPS_CELERY_BROKER_URL}"
    assert cfg["celery"]["result_backend"] == "${AIRFLOW_OPS_CELERY_RESULT_BACKEND}"


# -- refusals ---------------------------------------------------------------------------------
def test_unknown_profile_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(RenderRefused, match=r"unknown profile 'prod'.*local, celery, kubernetes"):
        render("prod", sample_environ("local"))


@pytest.mark.parametrize("profile", list(PROFILES))
def test_missing_database_url_is_refused(profile: str) -> None:
    environ = sample_environ(profile)
    del environ["AIRFLOW_OPS_SQL_ALCHEMY_CONN"]
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_SQL_ALCHEMY_CONN is required"):
        render(profile, environ)


def test_celery_without_a_broker_is_refused() -> None:
    environ = sample_environ("celery")
    del environ["AIRFLOW_OPS_CELERY_BROKER_URL"]
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_CELERY_BROKER_URL is required"):
        render("celery", environ)


def test_remote_logging_without_a_destination_is_refused() -> None:
    environ = sample_environ("local", AIRFLOW_OPS_REMOTE_LOGGING="True")
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_REMOTE_BASE_LOG_FOLDER is required"):
        render("local", environ)


@pytest.mark.parametrize("profile", ["celery", "kubernetes"])
def test_sqlite_with_a_distributed_executor_is_refused(profile: str) -> None:
    environ = sample_environ(profile, AIRFLOW_OPS_SQL_ALCHEMY_CONN="sqlite:////tmp/airflow.db")
    with pytest.raises(RenderRefused, match="SQLite works only with LocalExecutor"):
        render(profile, environ)


def test_sqlite_with_local_executor_is_only_a_warning() -> None:
    rendered = render("local", sample_environ("local", AIRFLOW_OPS_SQL_ALCHEMY_CONN="sqlite:////tmp/a.db"))
    assert any("SQLite" in w for w in rendered.warnings)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        pytest.param(
            "AIRFLOW_OPS_FERNET_KEY", "changeme", "not a 32-byte url-safe base64", id="fernet-placeholder"
        ),
        pytest.param("AIRFLOW_OPS_FERNET_KEY", "A" * 43 + "=", "low-entropy", id="fernet-repetitive"),
        pytest.param("AIRFLOW_OPS_JWT_SECRET", "short-secret", "shorter than 32 bytes", id="jwt-short"),
        pytest.param(
            "AIRFLOW_OPS_JWT_SECRET",
            "changeme-changeme-changeme-changeme",
            "placeholder",
            id="jwt-placeholder",
        ),
        pytest.param("AIRFLOW_OPS_API_SECRET_KEY", "x" * 40, "placeholder", id="api-secret-repetitive"),
        pytest.param(
            "AIRFLOW_OPS_ADMIN_PASSWORD", "admin", "default or placeholder password", id="admin-default"
        ),
        pytest.param("AIRFLOW_OPS_ADMIN_PASSWORD", "Tr0ub4dor", "shorter than 12", id="admin-short"),
    ],
)
@pytest.mark.parametrize("profile", ["celery", "kubernetes"])
def test_weak_secrets_are_refused_outside_local(profile: str, name: str, value: str, reason: str) -> None:
    with pytest.raises(RenderRefused, match=f"{name} .*{reason}"):
        render(profile, sample_environ(profile, **{name: value}))


def test_weak_secrets_are_warnings_in_the_local_profile() -> None:
    rendered = render(
        "local", sample_environ("local", AIRFLOW_OPS_JWT_SECRET="dev", AIRFLOW_OPS_ADMIN_PASSWORD="admin")
    )
    assert any("AIRFLOW_OPS_JWT_SECRET" in w for w in rendered.warnings)
    assert any("AIRFLOW_OPS_ADMIN_PASSWORD" in w for w in rendered.warnings)


def test_a_missing_admin_password_is_refused_outside_local() -> None:
    environ = sample_environ("celery")
    del environ["AIRFLOW_OPS_ADMIN_PASSWORD"]
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_ADMIN_PASSWORD is required"):
        render("celery", environ)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RenderRefused) as caught:
        render("celery", {})
    assert len(caught.value.problems) >= 6


def test_refusal_messages_name_the_fix() -> None:
    with pytest.raises(RenderRefused, match=r"generate one with: python -c .*Fernet.generate_key"):
        render("celery", {k: v for k, v in sample_environ("celery").items() if k != "AIRFLOW_OPS_FERNET_KEY"})


def test_an_executor_override_that_drops_the_profiles_executor_is_refused() -> None:
    with pytest.raises(RenderRefused, match="does not include CeleryExecutor"):
        render("celery", sample_environ("celery", AIRFLOW_OPS_EXECUTOR="LocalExecutor"))


def test_a_value_with_a_line_break_is_refused() -> None:
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_DAGS_FOLDER contains a line break"):
        render("local", sample_environ("local", AIRFLOW_OPS_DAGS_FOLDER="/a\n[core]\nexecutor = X"))


def test_a_non_integer_is_refused() -> None:
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_PARALLELISM='many' is not an integer"):
        render("local", sample_environ("local", AIRFLOW_OPS_PARALLELISM="many"))


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_option_the_console_reads_is_rendered_with_the_pages_default(profile: str) -> None:
    from airflow_ops.console.page import OPTIONS, Thresholds

    text = render(profile, sample_environ(profile)).text
    section = parsed(text)["airflow_ops"]
    assert set(section) == set(OPTIONS)
    for option, field in OPTIONS.items():
        assert float(section[option]) == getattr(Thresholds(), field)
        # explained: a comment right above the option
        above = text.split(f"\n{option} = ")[0].rsplit("\n", 1)[-1]
        assert above.startswith("# "), option


def test_the_page_reads_each_rendered_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_ops.console import app
    from airflow_ops.console.page import OPTIONS, Thresholds

    assert app.thresholds() == Thresholds()
    for n, (option, field) in enumerate(OPTIONS.items()):
        monkeypatch.setenv(f"AIRFLOW__AIRFLOW_OPS__{option.upper()}", str(n + 0.5))
        assert getattr(app.thresholds(), field) == n + 0.5


@pytest.mark.parametrize("raw", ["abc", "-3", "inf", "nan"])
def test_an_unusable_option_on_the_api_server_is_named_on_the_page_not_a_500(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    from airflow_ops.console import app, page
    from airflow_ops.console.data import Snapshot

    monkeypatch.setenv("AIRFLOW__AIRFLOW_OPS__CONSOLE_BACKUP_MAX_AGE_HOURS", raw)
    monkeypatch.setenv("AIRFLOW__AIRFLOW_OPS__CONSOLE_LOG_FREE_MIN_PCT", "12")
    limits = app.thresholds()
    assert (limits.backup_max_age_hours, limits.log_free_min_pct) == (
        page.Thresholds().backup_max_age_hours,
        12,
    )
    (error,) = limits.errors
    assert error.startswith(f"[airflow_ops] console_backup_max_age_hours = {raw!r} is not a number >= 0")
    assert "AIRFLOW__AIRFLOW_OPS__CONSOLE_BACKUP_MAX_AGE_HOURS" in error
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    html = page.render(Snapshot([], {}, {}, [], None), now=now, days=30, limits=limits, username="u")
    assert html.count('data-problem="config"') == 1 and 'data-problem="no_dags"' in html


def test_console_limits_come_from_the_environment_and_bad_ones_are_refused() -> None:
    env = sample_environ("local", AIRFLOW_OPS_CONSOLE_BACKUP_MAX_AGE_HOURS="26.5")
    assert parsed(render("local", env).text)["airflow_ops"]["console_backup_max_age_hours"] == "26.5"
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_CONSOLE_LOG_FREE_MIN_PCT='low' is not a number"):
        render("local", sample_environ("local", AIRFLOW_OPS_CONSOLE_LOG_FREE_MIN_PCT="low"))


# -- writing ----------------------------------------------------------------------------------
def test_writing_a_new_file(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    assert write_config(render("local", sample_environ("local")), out) is None
    assert parsed(out.read_text())["core"]["executor"] == "LocalExecutor"


def test_an_existing_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    out.write_text("[core]\nexecutor = Mine\n")
    with pytest.raises(RenderRefused, match="already exists: pass --force"):
        write_config(render("local", sample_environ("local")), out)
    assert out.read_text() == "[core]\nexecutor = Mine\n"


def test_force_keeps_a_timestamped_backup(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    out.write_text("old\n")
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    backup = write_config(render("local", sample_environ("local")), out, force=True, now=now)
    assert backup == tmp_path / "airflow.cfg.bak-20260102T030405"
    assert backup.read_text() == "old\n"
    assert "executor = LocalExecutor" in out.read_text()


def test_force_twice_keeps_both_backups(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    out.write_text("first\n")
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    rendered = render("local", sample_environ("local"))
    first = write_config(rendered, out, force=True, now=now)
    second = write_config(rendered, out, force=True, now=now)
    assert first != second
    assert first is not None and first.read_text() == "first\n"


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_refuses_weak_secrets_before_writing_anything(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    env = {"PATH": "/usr/bin:/bin", **sample_environ("celery", AIRFLOW_OPS_JWT_SECRET="jwt")}
    proc = run_cli("--profile", "celery", "--out", str(out), env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "AIRFLOW_OPS_JWT_SECRET is shorter than 32 bytes" in proc.stderr
    assert not out.exists()


def test_cli_refuses_a_bad_profile_before_writing_anything(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    proc = run_cli("--profile", "Local", "--out", str(out), env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown profile 'Local'" in proc.stderr
    assert not out.exists()


def test_cli_writes_the_passwords_file_private(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", **sample_environ("local")}
    pw = tmp_path / "passwords.json"
    proc = run_cli(
        "--profile",
        "local",
        "--out",
        str(tmp_path / "airflow.cfg"),
        "--passwords-file",
        str(pw),
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert pw.stat().st_mode & 0o777 == 0o600
    assert env["AIRFLOW_OPS_ADMIN_PASSWORD"] not in proc.stderr + proc.stdout


def test_cli_list_documents_every_variable_with_its_default(tmp_path: Path) -> None:
    proc = run_cli(
        "--profile",
        "celery",
        "--list",
        env={"PATH": "/usr/bin:/bin", **sample_environ("celery")},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "AIRFLOW_OPS_PARALLELISM" in proc.stdout and "32" in proc.stdout
    assert "AIRFLOW_OPS_CELERY_BROKER_URL" in proc.stdout


def test_rendering_the_same_content_again_is_a_no_op(tmp_path: Path) -> None:
    out = tmp_path / "airflow.cfg"
    rendered = render("local", sample_environ("local"))
    write_config(rendered, out)
    assert write_config(rendered, out) is None
    assert write_config(rendered, out, force=True) is None
    assert [p.name for p in tmp_path.iterdir()] == ["airflow.cfg"]


def test_a_dag_bundle_list_comes_with_its_own_storage_path() -> None:
    environ = sample_environ("kubernetes")
    bundles = json.dumps(
        [{"name": "airflow-ops", "classpath": "airflow.providers.git.bundles.git.GitDagBundle", "kwargs": {}}]
    )
    environ["AIRFLOW_OPS_DAG_BUNDLE_CONFIG_LIST"] = bundles
    cfg = parsed(render("kubernetes", environ).text)
    assert cfg["dag_processor"]["dag_bundle_config_list"] == bundles
    assert cfg["dag_processor"]["dag_bundle_storage_path"] == "/opt/airflow/dag_bundles"
    environ["AIRFLOW_OPS_DAG_BUNDLE_STORAGE_PATH"] = "/data/bundles"
    assert (
        parsed(render("kubernetes", environ).text)["dag_processor"]["dag_bundle_storage_path"]
        == "/data/bundles"
    )
    assert not parsed(render("local", sample_environ("local")).text).has_option(
        "dag_processor", "dag_bundle_storage_path"
    )


# -- issue 14 item 10: one-line refusals, honest output, invalid fernet keys ----------------------
@pytest.mark.parametrize(
    "key",
    [
        pytest.param("changeme", id="placeholder"),
        pytest.param("A" * 44, id="44-chars-not-32-bytes"),
        pytest.param("Zm9v" * 10, id="base64-of-30-bytes"),
        pytest.param("!" * 43 + "=", id="not-base64"),
    ],
)
@pytest.mark.parametrize("profile", list(PROFILES))
def test_an_invalid_fernet_key_is_refused_in_every_profile(profile: str, key: str) -> None:
    from cryptography.fernet import Fernet

    with pytest.raises(ValueError):
        Fernet(key)  # what Airflow would do with it at start
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_FERNET_KEY is not a 32-byte url-safe base64"):
        render(profile, sample_environ(profile, AIRFLOW_OPS_FERNET_KEY=key))


def test_an_invalid_key_in_a_rotation_list_is_refused_in_local() -> None:
    from cryptography.fernet import Fernet

    keys = f"{Fernet.generate_key().decode()},not-a-key"
    with pytest.raises(RenderRefused, match=r"key 2 of 2"):
        render("local", sample_environ("local", AIRFLOW_OPS_FERNET_KEY=keys))


def test_a_weak_but_valid_fernet_key_is_still_only_a_warning_in_local() -> None:
    rendered = render("local", sample_environ("local", AIRFLOW_OPS_FERNET_KEY="A" * 43 + "="))
    assert any("AIRFLOW_OPS_FERNET_KEY is a low-entropy" in w for w in rendered.warnings)


def test_cli_out_a_directory_is_one_line_exit_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", **sample_environ("local")}
    proc = run_cli("--profile", "local", "--out", str(tmp_path), env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"--out {tmp_path} is a directory" in lines[0]
    assert f"--out {tmp_path / 'airflow.cfg'}" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_cli_out_in_an_unwritable_place_is_one_line_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"PATH": "/usr/bin:/bin", **sample_environ("local")}
    proc = run_cli("--profile", "local", "--out", str(blocker / "airflow.cfg"), env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot write" in proc.stderr


def test_cli_says_unchanged_for_a_file_it_left_alone(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", **sample_environ("local")}
    out = tmp_path / "airflow.cfg"
    first = run_cli("--profile", "local", "--out", str(out), env=env, cwd=tmp_path)
    assert first.returncode == 0 and f"wrote {out}" in first.stderr, first.stderr
    mtime = out.stat().st_mtime_ns
    second = run_cli("--profile", "local", "--out", str(out), "--force", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"unchanged {out}" in second.stderr and "wrote" not in second.stderr
    assert out.stat().st_mtime_ns == mtime


def test_cli_refuses_an_invalid_fernet_key_in_local_before_writing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", **sample_environ("local", AIRFLOW_OPS_FERNET_KEY="not-a-fernet-key")}
    out = tmp_path / "airflow.cfg"
    proc = run_cli("--profile", "local", "--out", str(out), env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "AIRFLOW_OPS_FERNET_KEY is not a 32-byte url-safe base64 Fernet key" in proc.stderr
    assert "Fernet.generate_key" in proc.stderr
    assert not out.exists()


# -- issue 14 item 6: the passwords file is private, an existing one is tightened ------------------
def test_an_existing_passwords_file_is_tightened_to_0600(tmp_path: Path) -> None:
    from airflow_ops_tools.cfgrender import write_passwords_file

    pw = tmp_path / "passwords.json"
    pw.write_text('{"admin": "old"}')
    pw.chmod(0o644)
    write_passwords_file({"AIRFLOW_OPS_ADMIN_PASSWORD": "a-strong-password-1"}, pw)
    assert pw.stat().st_mode & 0o777 == 0o600
    assert json.loads(pw.read_text()) == {"admin": "a-strong-password-1"}
    assert [p.name for p in tmp_path.iterdir()] == ["passwords.json"], "no temporary file left behind"


def test_a_directory_created_for_the_passwords_file_is_0700(tmp_path: Path) -> None:
    from airflow_ops_tools.cfgrender import write_passwords_file

    pw = tmp_path / "new" / "passwords.json"
    write_passwords_file({"AIRFLOW_OPS_ADMIN_PASSWORD": "a-strong-password-1"}, pw)
    assert pw.parent.stat().st_mode & 0o777 == 0o700
    assert pw.stat().st_mode & 0o777 == 0o600


# -- issue 14 item 5: the bundle's own least-privilege API identity ---------------------------------
def test_the_template_creates_the_bot_identity_with_role_user() -> None:
    from airflow_ops_tools.cfgrender import render, sample_environ

    for profile in ("local", "celery", "kubernetes"):
        text = render(profile, sample_environ(profile), run_secret_cmds=False).text
        [line] = [ln for ln in text.splitlines() if ln.startswith("simple_auth_manager_users")]
        assert line.split("=", 1)[1].strip() == "admin:admin,airflow-ops-bot:user", profile


def test_the_passwords_file_carries_the_bot_password_of_its_own(tmp_path: Path) -> None:
    from airflow_ops_tools.cfgrender import RenderRefused, write_passwords_file

    pw = tmp_path / "passwords.json"
    env = {"AIRFLOW_OPS_ADMIN_PASSWORD": "a-strong-password-1", "AIRFLOW_OPS_BOT_PASSWORD": "bot-password-2"}
    write_passwords_file(env, pw)
    assert json.loads(pw.read_text()) == {"admin": "a-strong-password-1", "airflow-ops-bot": "bot-password-2"}
    with pytest.raises(RenderRefused, match="give airflow-ops-bot its own"):
        write_passwords_file({**env, "AIRFLOW_OPS_BOT_PASSWORD": "a-strong-password-1"}, pw)


def test_a_zero_limit_is_accepted_by_the_page_as_by_the_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_ops.console import app

    render("local", sample_environ("local", AIRFLOW_OPS_CONSOLE_LOG_FREE_MIN_PCT="0"))  # not refused
    monkeypatch.setenv("AIRFLOW__AIRFLOW_OPS__CONSOLE_LOG_FREE_MIN_PCT", "0")
    limits = app.thresholds()
    assert limits.log_free_min_pct == 0 and limits.errors == ()


# -- issue 19: no value of any kind carries a line, a section or a control character -------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CONTROL = st.sampled_from(["\n", "\r", "\r\n", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\t"])
#: every door a value has into airflow.cfg: plain values, secrets, *_CMD and *_SECRET
_DOORS = [
    "AIRFLOW_OPS_PARALLELISM",
    "AIRFLOW_OPS_DAGS_FOLDER",
    "AIRFLOW_OPS_JWT_SECRET",
    "AIRFLOW_OPS_JWT_SECRET_CMD",
    "AIRFLOW_OPS_JWT_SECRET_SECRET",
    "AIRFLOW_OPS_FERNET_KEY_CMD",
    "AIRFLOW_OPS_SQL_ALCHEMY_CONN",
    "AIRFLOW_OPS_CELERY_BROKER_URL",
    "AIRFLOW_OPS_CELERY_BROKER_URL_CMD",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    door=st.sampled_from(_DOORS),
    head=st.text(max_size=20),
    control=_CONTROL,
    tail=st.sampled_from(["[secrets]", "[secrets]\nbackend = evil.Backend", "x", ""]),
)
def test_no_value_of_any_kind_can_carry_a_line_or_control_character(
    door: str, head: str, control: str, tail: str
) -> None:
    environ = sample_environ("celery")
    for cmd in ("_CMD", "_SECRET"):  # the door replaces the plain value of its secret
        if door.endswith(cmd):
            environ.pop(door.removesuffix(cmd), None)
    environ[door] = "valid-prefix-" + head + control + tail
    with pytest.raises(RenderRefused, match=f"{door}.* line break or control character"):
        render("celery", environ, run_secret_cmds=False)


def test_a_cmd_whose_output_has_two_lines_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "two-lines"
    script.write_text("#!/bin/sh\nprintf 'Zq8vR3nT6wK1pL5mX9cB2hJ7dF4gS0aYQQ\\n[secrets]\\nbackend = x\\n'\n")
    script.chmod(0o700)
    environ = sample_environ("celery")
    environ.pop("AIRFLOW_OPS_JWT_SECRET")
    environ["AIRFLOW_OPS_JWT_SECRET_CMD"] = str(script)
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_JWT_SECRET_CMD's output contains a line break"):
        render("celery", environ)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        pytest.param("[core]\nexecutor = {{ env('X' }}\n", "line 2", id="syntax"),
        pytest.param("[core]\n{% for x in %}\n", "fix the template", id="bad-for"),
        pytest.param(b"\xff\xfe\x00binary", "not UTF-8", id="binary"),
        pytest.param("{{ nothing_defined.attr }}", "fix the template", id="undefined"),
    ],
)
def test_template_errors_are_one_line(tmp_path: Path, template: str | bytes, reason: str) -> None:
    path = tmp_path / "airflow.cfg.template"
    if isinstance(template, bytes):
        path.write_bytes(template)
    else:
        path.write_text(template)
    proc = run_cli(
        "--profile",
        "local",
        "--template",
        str(path),
        "--stdout",
        env={"PATH": "/usr/bin:/bin", **sample_environ("local")},
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert reason in proc.stderr and str(path) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "airflow.cfg"
    (tmp_path / ".airflow.cfg.tmp").symlink_to(victim)
    write_config(render("local", sample_environ("local")), out)
    assert victim.read_text() == "precious\n"
    assert out.is_file() and not out.is_symlink() and "[core]" in out.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


@pytest.mark.parametrize("password", ["admin", "changeme", "short1"])
def test_a_weak_bot_password_is_refused_outside_local(password: str) -> None:
    environ = sample_environ("celery", AIRFLOW_OPS_BOT_PASSWORD=password)
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_BOT_PASSWORD"):
        render("celery", environ)
    assert any(
        "AIRFLOW_OPS_BOT_PASSWORD" in w
        for w in render("local", sample_environ("local", AIRFLOW_OPS_BOT_PASSWORD=password)).warnings
    )
