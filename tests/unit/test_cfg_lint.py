"""Rendered profiles against Airflow itself: `airflow config lint` and Airflow's own config schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_ops_tools.cfgrender import (
    LINT_IGNORED_OPTIONS,
    PROFILES,
    airflow_config_schema,
    lint_findings,
    render,
    sample_environ,
    schema_problems,
    write_config,
)

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
K8S_KEYS = REPO / "tests" / "fixtures" / "cncf_kubernetes_config_keys.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, dict[str, str]]:
    return airflow_config_schema(K8S_KEYS)


@pytest.fixture(scope="module")
def sensitive() -> set[tuple[str, str]]:
    from airflow.configuration import conf

    return set(conf.sensitive_config_values)


def rendered_file(tmp_path: Path, profile: str) -> tuple[Path, dict[str, str]]:
    environ = sample_environ(profile)
    out = tmp_path / "airflow.cfg"
    write_config(render(profile, environ), out)
    return out, environ


@pytest.mark.parametrize("profile", list(PROFILES))
def test_rendered_profile_passes_airflow_config_lint(tmp_path: Path, profile: str) -> None:
    cfg, environ = rendered_file(tmp_path, profile)
    home = tmp_path / "home"
    home.mkdir()
    assert lint_findings(cfg, home, LINT_IGNORED_OPTIONS[profile], environ) == []


@pytest.mark.parametrize("profile", ["celery", "kubernetes"])
def test_lint_only_notes_the_deliberate_executor_choice(tmp_path: Path, profile: str) -> None:
    # lint reports any non-default [core] executor as a "changed default" notice; nothing else may show
    cfg, environ = rendered_file(tmp_path, profile)
    home = tmp_path / "home"
    home.mkdir()
    findings = lint_findings(cfg, home, (), environ)
    assert len(findings) == 1
    assert "`executor`" in findings[0] and PROFILES[profile] in findings[0]


def test_lint_catches_an_airflow_2_key(tmp_path: Path) -> None:
    cfg, environ = rendered_file(tmp_path, "local")
    cfg.write_text(cfg.read_text() + "\n[webserver]\nweb_server_port = 8080\n")
    home = tmp_path / "home"
    home.mkdir()
    assert lint_findings(cfg, home, (), environ)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_rendered_option_exists_in_airflows_schema(
    profile: str, schema: dict[str, dict[str, str]], sensitive: set[tuple[str, str]]
) -> None:
    text = render(profile, sample_environ(profile)).text
    assert schema_problems(text, schema, sensitive) == []


def test_schema_check_flags_an_option_in_its_airflow_2_section(
    schema: dict[str, dict[str, str]], sensitive: set[tuple[str, str]]
) -> None:
    problems = schema_problems("[scheduler]\nchild_process_log_directory = /x\n", schema, sensitive)
    assert problems == ["[scheduler] child_process_log_directory is not an option of [scheduler]"]


def test_schema_check_flags_cmd_on_a_non_sensitive_option(
    schema: dict[str, dict[str, str]], sensitive: set[tuple[str, str]]
) -> None:
    problems = schema_problems("[core]\nparallelism_cmd = echo 3\n", schema, sensitive)
    assert problems == ["[core] parallelism_cmd: parallelism does not accept _cmd/_secret"]


def test_schema_check_flags_a_wrongly_typed_value(
    schema: dict[str, dict[str, str]], sensitive: set[tuple[str, str]]
) -> None:
    assert schema_problems("[core]\nparallelism = lots\n", schema, sensitive) == [
        "[core] parallelism = 'lots' is not an integer"
    ]


@pytest.mark.parametrize(
    ("section", "option"),
    [
        ("logging", "dag_processor_child_process_log_directory"),
        ("dag_processor", "refresh_interval"),
        ("api", "base_url"),
        ("api_auth", "jwt_secret"),
    ],
)
def test_config_homes_are_those_of_the_installed_airflow(
    schema: dict[str, dict[str, str]], section: str, option: str
) -> None:
    assert option in schema[section]
