"""Issue 19: one error contract for every ``airflow-ops`` command, fed hostile arguments.

Each row is what a careless or hostile user types. Every one must end with exactly one ``error:``
line naming the flag or file, the contract's exit code (2; 64 in the probe, whose 2 means critical),
no traceback, and none of the secrets it was given in any output.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_ops_tools import cli

SECRET = "Hunter2-Very-Secret-Pw"

#: (argv, exit code, a word the error line must hold); {tmp} is the test's directory
HOSTILE: list[tuple[list[str], int, str]] = [
    (["nope"], 2, "unknown command"),
    (["generate", "--bogus"], 2, "--bogus"),
    (["generate", "--config-dir"], 2, "--config-dir"),
    (["generate", "--config-dir", "{tmp}/missing", "--prune"], 2, "--config-dir"),
    (["generate", "--config-dir", "{tmp}/empty", "--prune"], 2, "holds no"),
    (["generate", "--config-dir", "{tmp}/a_file"], 2, "is a file"),
    (["generate", "--config-dir", "{tmp}/empty", "--dags-dir", "{tmp}/a_file"], 2, "--dags-dir"),
    (["generate", "--config-dir", "{tmp}/bad_yaml", "--dags-dir", "{tmp}/dags"], 2, "bad.yml"),
    (["render-cfg", "--profile", "nope", "--stdout"], 2, "unknown profile"),
    (["render-cfg", "--profile", "local", "--template", "{tmp}/missing", "--stdout"], 2, "template"),
    (["render-cfg", "--profile", "local", "--template", "{tmp}/binary", "--stdout"], 2, "UTF-8"),
    (["render-cfg", "--profile", "local", "--template", "{tmp}/jinja_error", "--stdout"], 2, "line 1"),
    (["render-cfg", "--out", "{tmp}/x", "--stdout"], 2, "not allowed"),
    (["render-cfg", "--profile", "local", "--out", "{tmp}/empty"], 2, "is required"),
    (["probe", "--components", ""], 64, "--components"),
    (["probe", "--components", ",,"], 64, "--components"),
    (["probe", "--components", "scheduler,bogus"], 64, "bogus"),
    (["probe", "--timeout", "-1"], 64, "--timeout"),
    (["probe", "--timeout", "nan"], 64, "--timeout"),
    (["probe", "--timeout", "abc"], 64, "--timeout"),
    (["probe", "--url", f"http://ops:{SECRET}@127.0.0.1:99999"], 64, "--url"),
    (["probe", "--url", f"ftp://ops:{SECRET}@127.0.0.1"], 64, "--url"),
    (["probe", "--url", "127.0.0.1:8080"], 64, "--url"),
    (["probe", "--expected-interval", "x"], 64, "--expected-interval"),
    (["probe", "--expected-interval", "dag=-3"], 64, "--expected-interval"),
    (["probe", "--heartbeat-warning-seconds", "1"], 64, "--heartbeat-warning-seconds"),
    (["probe", "--heartbeat-warning-seconds", "500"], 64, "heartbeat_warning_seconds"),
    (["probe", "--stuck-task-minutes", "ten"], 64, "--stuck-task-minutes"),
    (["restore-backup", "--bogus"], 2, "--bogus"),
    (["restore-backup"], 2, "--target-url"),
    (["restore-backup", "--pin", "2026-01-01T000000Z"], 2, "--reason"),
    (["restore-backup", "--target-url", f"mysql://u:{SECRET}@db:3306/airflow"], 2, "--target-url"),
    (["restore-backup", "--target-url", f"postgresql://u:{SECRET}@db:port/airflow"], 2, "port"),
    (["restore-backup", "--target-url", f"postgresql://u:{SECRET}@db:99999/airflow"], 2, "port"),
    (["restore-backup", "--target-url", f"postgresql://u:{SECRET}@db:5432/"], 2, "--target-url"),
    (["restore-backup", "--endpoint-url", "not a url", "--list"], 2, "--endpoint-url"),
    (["restore-export"], 2, "source"),
    (["restore-export", "{tmp}/a_file", "--key-file", "{tmp}/missing"], 2, "--key-file"),
    (["restore-export", "{tmp}/a_file", "--key-file", "{tmp}/binary"], 2, "--key-file"),
    (["restore-export", "s3://b/k", "--endpoint-url", "localhost:9000"], 2, "--endpoint-url"),
    (["restore-export", "{tmp}/missing"], 2, "cannot read"),
    (["restore-export", "{tmp}/a_file", "--target-db-url", f"postgresql://u:{SECRET}@h/db"], 2, "error"),
    (["rehearse-upgrade"], 2, "--to"),
    (["rehearse-upgrade", "--to", "latest", "--scratch-url", "postgresql://u@h/postgres"], 2, "--to"),
    (
        ["rehearse-upgrade", "--to", "3.3.2", "--from", "2.10.5", "--scratch-url", "postgresql://u@h/p"],
        2,
        "--from",
    ),
    (["rehearse-upgrade", "--to", "3.3.2"], 2, "--scratch-url"),
    (["rehearse-upgrade", "--to", "3.3.2", "--scratch-url", f"mysql://u:{SECRET}@h/db"], 2, "--scratch-url"),
    (["rehearse-upgrade", "--to", "3.3.2", "--scratch-url", f"postgresql://u:{SECRET}@h:99999/p"], 2, "port"),
    (
        [
            "rehearse-upgrade",
            "--to",
            "3.3.2",
            "--scratch-url",
            "postgresql://u@h/p",
            "--dags-folder",
            "{tmp}/missing",
        ],
        2,
        "--dags-folder",
    ),
    (
        [
            "rehearse-upgrade",
            "--to",
            "3.3.2",
            "--scratch-url",
            "postgresql://u@h/p",
            "--airflow-cfg",
            "{tmp}/empty",
        ],
        2,
        "--airflow-cfg",
    ),
    (
        [
            "rehearse-upgrade",
            "--to",
            "3.3.2",
            "--scratch-url",
            "postgresql://u@h/p",
            "--migration-timeout",
            "-5",
        ],
        2,
        "--migration-timeout",
    ),
    (["docs", "--bogus"], 2, "--bogus"),
    (
        [
            "rehearse-upgrade",
            "--to",
            "3.3.2",
            "--scratch-url",
            "postgresql://u@h/p",
            "--wheelhouse",
            "{tmp}/missing",
        ],
        2,
        "--wheelhouse",
    ),
    (["readme", "--bogus"], 2, "--bogus"),
]


@pytest.fixture
def hostile_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not an export\n")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00\x80 binary")
    (tmp_path / "jinja_error").write_text("{{ env('X' }}\n")
    (tmp_path / "bad_yaml").mkdir()
    (tmp_path / "bad_yaml" / "bad.yml").write_text("kind: [unclosed\n")
    monkeypatch.setenv("AIRFLOW_OPS_EXPORT_KEY", "k" * 40)
    monkeypatch.delenv("AIRFLOW_OPS_SCRATCH_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        # restore-backup's logging.basicConfig would keep this test's captured stderr for the next one
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "code", "word"), HOSTILE, ids=[" ".join(a)[:60] for a, _, _ in HOSTILE])
def test_a_hostile_argument_gets_one_line_the_contract_code_and_no_secret(
    hostile_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, word: str
) -> None:
    got, out, err = _run([a.format(tmp=hostile_dir) for a in argv], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert got == code, err
    assert len(errors) == 1, err
    assert word in errors[0], errors[0]
    assert "Traceback" not in err + out
    assert SECRET not in err + out
    assert all(line.startswith(("error:", "warning:")) for line in err.splitlines() if line), err


def test_a_password_in_a_flag_warns_once_and_names_the_alternative(
    hostile_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = _run(["restore-backup", "--target-url", f"postgresql://u:{SECRET}@db:99999/airflow"], capsys)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "PGPASSWORD" in warnings[0] and "ps" in warnings[0]


def test_an_unexpected_exception_is_one_line_naming_the_command_and_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import generate

    def boom(*_a: object, **_k: object) -> object:
        raise RuntimeError(f"disk on fire; postgresql://u:{SECRET}@h/db")

    monkeypatch.setattr(generate, "render_all", boom)
    code, _out, err = _run(["generate", "--check"], capsys)
    assert code == 1
    [line] = err.strip().splitlines()
    assert "airflow-ops generate failed unexpectedly (RuntimeError: disk on fire" in line
    assert "--debug" in line and SECRET not in line and "Traceback" not in err


def test_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import generate

    def boom(*_a: object, **_k: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(generate, "render_all", boom)
    code, _, err = _run(["generate", "--check", "--debug"], capsys)
    assert code == 1 and "Traceback" in err and "disk on fire" in err


def test_probe_help_documents_its_usage_and_unexpected_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["probe", "--help"], capsys)
    assert code == 0 and "64 a bad argument" in " ".join(out.split()) and "70 an unexpected" in out


_FLAG_VALUES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=30
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flag=st.sampled_from(
        ["--timeout", "--components", "--url", "--expected-interval", "--stuck-task-minutes"]
    ),
    value=_FLAG_VALUES,
)
def test_any_probe_flag_value_is_a_verdict_or_a_contract_error(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    # A dead port: a value the probe accepts ends in a CRITICAL verdict (2) quickly, never a traceback.
    argv = [
        "probe",
        "--url",
        "http://127.0.0.1:9",
        "--timeout",
        "1",
        "--components",
        "scheduler",
        flag,
        value,
    ]
    if flag == "--url":
        argv = ["probe", "--timeout", "1", flag, value]
    code, out, err = _run(argv, capsys)
    assert code in (0, 1, 2, 64), err
    assert "Traceback" not in out + err
    if code == 64:
        assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
