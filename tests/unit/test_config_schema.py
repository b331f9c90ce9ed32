"""The schema validates config at the edge and names file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_ops.exceptions import ConfigError
from airflow_ops.kinds.health_probe.schema import HealthProbeConfig
from airflow_ops.registry import load_config_file, parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "configs"


@pytest.mark.parametrize(
    ("name", "field", "reason"),
    [
        pytest.param("bad_unknown_key", "thresholds.heartbeat_warning_secs", "unknown key", id="unknown-key"),
        pytest.param("bad_type", "retries", "valid integer", id="wrong-type"),
        pytest.param("bad_range", "retries", "greater than or equal to 1", id="out-of-range"),
        pytest.param("bad_yaml", "line ", "invalid YAML", id="bad-yaml"),
        pytest.param("bad_schedule", "schedule", "neither a valid cron expression", id="bad-schedule"),
        pytest.param("bad_kind", "kind", "must be one of", id="unknown-kind"),
        pytest.param("bad_dag_id_mismatch", "dag_id", "must match the file name", id="dag-id-vs-file"),
    ],
)
def test_bad_config_error_names_file_field_and_reason(name: str, field: str, reason: str) -> None:
    path = FIXTURES / f"{name}.yml"
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert info.value.file == str(path)
    assert info.value.field.startswith(field)
    assert reason in info.value.reason


def test_maintenance_tag_is_always_present() -> None:
    cfg = parse({"kind": "health_probe", "dag_id": "x", "tags": ["health"]})
    assert cfg.tags == ["maintenance", "health"]
    assert parse({"kind": "health_probe", "dag_id": "y"}).tags == ["maintenance"]


def test_warning_threshold_must_not_exceed_critical() -> None:
    with pytest.raises(ConfigError, match=r"heartbeat_warning_seconds .* must be <="):
        parse(
            {
                "kind": "health_probe",
                "dag_id": "x",
                "thresholds": {"heartbeat_warning_seconds": 300, "heartbeat_critical_seconds": 60},
            },
        )


def test_disk_thresholds_are_inverted() -> None:
    with pytest.raises(ConfigError, match="log_volume_free_warning_pct"):
        parse(
            {
                "kind": "health_probe",
                "dag_id": "x",
                "thresholds": {"log_volume_free_warning_pct": 5, "log_volume_free_critical_pct": 10},
            },
        )


def test_email_recipients_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.email\.to: .*not an e-mail address"):
        parse({"kind": "health_probe", "dag_id": "x", "alerts": {"email": {"to": ["nobody"]}}})


def test_every_shipped_config_is_valid() -> None:
    configs = sorted((Path(__file__).parents[2] / "config").glob("*.yml"))
    assert configs, "config/ has no DAG instances"
    for path in configs:
        assert load_config_file(path).dag_id == path.stem


def test_health_defaults_are_operator_sane() -> None:
    cfg = parse({"kind": "health_probe", "dag_id": "x"})
    assert isinstance(cfg, HealthProbeConfig)
    assert cfg.schedule == "*/5 * * * *"
    assert cfg.fail_on == "critical"
    assert cfg.components == ["metadatabase", "scheduler", "triggerer", "dag_processor"]


@pytest.mark.parametrize(
    "schedule",
    [
        pytest.param("99 99 99 99 99", id="out-of-range"),
        pytest.param("* * *", id="three-fields"),
        pytest.param("0 3 * * * *", id="six-fields"),
        pytest.param("@sometimes", id="unknown-preset"),
    ],
)
def test_invalid_cron_is_refused_at_generate_time(schedule: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"kind": "health_probe", "dag_id": "x", "schedule": schedule}, "config/x.yml")
    assert info.value.field == "schedule"
    assert "neither a valid cron expression" in info.value.reason


def test_a_bad_date_in_yaml_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ops_health_probe.yml"
    path.write_text("kind: health_probe\ndag_id: ops_health_probe\nstart_date: 2024-13-45\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert info.value.file == str(path)
    assert "YYYY-MM-DD" in info.value.reason
