"""What is saved next to a dump: redacted config, package list, fernet key status."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_ops.backup.sidecars import REDACTED, fingerprint, merged_config, package_list, redact_config


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        pytest.param("core", "fernet_key", "k3y", id="fernet"),
        pytest.param("api", "secret_key", "s3cr3t", id="secret-key"),
        pytest.param("api_auth", "jwt_secret", "jw7", id="jwt"),
        pytest.param("database", "sql_alchemy_conn", "postgresql://u:pw@h/db", id="db-url"),
        pytest.param("celery", "broker_url", "redis://:pw@h:6379/0", id="broker"),
        pytest.param("smtp", "smtp_password", "pw", id="password"),
        pytest.param("database", "sql_alchemy_conn_cmd", "cat /secret", id="cmd"),
        pytest.param("custom", "anything", "opaque", id="flagged-by-airflow"),
    ],
)
def test_sensitive_values_are_redacted(section: str, key: str, value: str) -> None:
    text = redact_config({section: {key: value}}, sensitive={("custom", "anything")})
    assert f"{key} = {REDACTED}" in text
    assert value not in text


def test_passwords_inside_urls_of_ordinary_keys_are_redacted() -> None:
    text = redact_config({"webserver": {"base_url": "http://admin:hunter2@host:8080"}}, sensitive=set())
    assert "hunter2" not in text
    assert f"http://admin:{REDACTED}@host:8080" in text


def test_ordinary_values_are_kept() -> None:
    text = redact_config({"core": {"executor": "LocalExecutor", "parallelism": "32"}}, sensitive=set())
    assert "executor = LocalExecutor" in text and "parallelism = 32" in text


def test_environment_overrides_the_cfg_file(tmp_path: Path) -> None:
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text("[core]\nexecutor = LocalExecutor\nparallelism = 8\n")
    merged = merged_config(
        str(cfg), {"AIRFLOW__CORE__PARALLELISM": "64", "AIRFLOW__API__PORT": "8081", "PATH": "/"}
    )
    assert merged == {"core": {"executor": "LocalExecutor", "parallelism": "64"}, "api": {"port": "8081"}}


def test_package_list_is_pinned_and_sorted() -> None:
    lines = package_list().splitlines()
    from airflow_ops.compat import airflow_version

    assert f"apache-airflow-core=={airflow_version()}" in lines
    assert lines == sorted(lines, key=lambda line: line.split("==")[0].lower())


def test_fingerprint_identifies_a_key_without_revealing_it() -> None:
    key = "x" * 44
    assert fingerprint(key) == fingerprint(key) and key not in fingerprint(key)
    assert fingerprint(key) != fingerprint("y" * 44)


def test_values_of_flagged_keys_are_masked_wherever_else_they_appear() -> None:
    """redact_config is built on the one redactor: a flagged secret repeated in another key is masked."""
    text = redact_config(
        {"custom": {"token_holder": "opaque-value-123", "echo": "see opaque-value-123 here"}},
        sensitive={("custom", "token_holder")},
    )
    assert "opaque-value-123" not in text
    assert f"echo = see {REDACTED} here" in text


def test_secret_environment_values_are_masked_in_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_PASSWORD", "envsecret-4242")
    text = redact_config({"core": {"note": "uses envsecret-4242 daily"}}, sensitive=set())
    assert "envsecret-4242" not in text
