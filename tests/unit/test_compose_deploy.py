"""deploy/: systemd units for a single server, Helm values and Kubernetes probes for a cluster."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest
import yaml

from airflow_ops_tools.cfgrender import airflow_config_schema

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize("component", COMPONENTS)
def test_systemd_unit_runs_the_component_and_restarts_it(component: str) -> None:
    service = unit(f"airflow-{component}.service")
    assert service["Service"]["ExecStart"].endswith(f"airflow {component}")
    assert service["Service"]["Restart"] == "on-failure"
    assert service["Service"]["EnvironmentFile"] == "/etc/airflow/airflow.env"
    assert service["Unit"]["PartOf"] == "airflow.target"


def test_airflow_target_restarts_every_component_together() -> None:
    wants = unit("airflow.target")["Unit"]["Wants"].split()
    assert sorted(wants) == sorted(f"airflow-{c}.service" for c in COMPONENTS)


def test_systemd_environment_example_commits_no_secret() -> None:
    for line in (DEPLOY / "systemd" / "airflow.env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if name.endswith(("_KEY", "_SECRET", "_PASSWORD", "SQL_ALCHEMY_CONN")) or name.startswith(
            "AIRFLOW_CONN_"
        ):
            assert value == "", name


def test_helm_values_use_git_sync_on_the_deploy_branch() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values-airflow-ops.yaml").read_text())
    assert values["executor"] == "KubernetesExecutor"
    assert values["dags"]["gitSync"]["enabled"] is True
    assert values["dags"]["gitSync"]["branch"] == "deploy"


def test_helm_values_config_keys_exist_in_airflows_schema() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values-airflow-ops.yaml").read_text())
    schema = airflow_config_schema(REPO / "tests" / "fixtures" / "cncf_kubernetes_config_keys.json")
    unknown = [
        f"[{s}] {k}" for s, opts in values["config"].items() for k in opts if k not in schema.get(s, {})
    ]
    assert unknown == []


def test_helm_values_hold_no_inline_secret() -> None:
    text = (DEPLOY / "helm" / "values-airflow-ops.yaml").read_text()
    values = yaml.safe_load(text)
    for key in ("fernetKey", "jwtSecret", "apiSecretKey", "webserverSecretKey"):
        assert key not in values
    assert "SecretName" in json.dumps(values)


def test_kubernetes_probe_examples_cover_every_component() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "probes.yaml").read_text()))
    probes = {k: v for d in docs if "kind" not in d for k, v in d.items()}
    assert set(probes) == {"apiServer", "scheduler", "dagProcessor", "triggerer"}
    assert "readinessProbe" in probes["apiServer"]
    assert all("livenessProbe" in p for p in probes.values())
