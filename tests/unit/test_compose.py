"""docker-compose.yaml, validated statically with Debian's `docker-compose config`.

The real `docker compose up` on a container engine is `make test-compose` (tests/compose/); the guards
for what it found are in test_compose_zero_config.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ops_tools.cfgrender import render, sample_environ

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
BUCKETS = ("airflow-ops-backups", "airflow-ops-exports", "airflow-ops-archive", "airflow-ops-logs")
AIRFLOW_SERVICES = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_OPS_FERNET_KEY",
    "AIRFLOW_OPS_API_SECRET_KEY",
    "AIRFLOW_OPS_JWT_SECRET",
    "AIRFLOW_OPS_ADMIN_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "AIRFLOW_OPS_EXPORT_KEY",
)


def example_vars() -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    return {k: v for k, v in pairs}


def strong_env_file(tmp_path: Path, profile: str = "local") -> Path:
    environ = sample_environ(profile)
    values = {**example_vars(), **{k: v for k, v in environ.items() if k in SECRETS}}
    values["POSTGRES_PASSWORD"] = "Pq7vN2xR9tL4kW8m"
    values["MINIO_ROOT_PASSWORD"] = "Mn5bV8cX1zQ3wE6r"
    values["AIRFLOW_OPS_PROFILE"] = profile
    path = tmp_path / "compose.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def compose(env_file: Path, *args: str, profile: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not found: apt-get install -y docker-compose (.ci/run does this)"
    cmd = [binary, "--project-directory", str(REPO), "--env-file", str(env_file), "-f", str(COMPOSE)]
    if profile:
        cmd += ["--profile", profile]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, check=False)


def resolved(tmp_path: Path, profile: str | None = None) -> dict[str, Any]:
    proc = compose(strong_env_file(tmp_path, profile or "local"), "config", profile=profile)
    assert proc.returncode == 0, proc.stderr
    return dict(yaml.safe_load(proc.stdout))


def raw() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(k) + strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def test_compose_file_validates(tmp_path: Path) -> None:
    proc = compose(strong_env_file(tmp_path), "config", "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_compose_file_validates_with_the_celery_profile(tmp_path: Path) -> None:
    proc = compose(strong_env_file(tmp_path, "celery"), "config", "--quiet", profile="celery")
    assert proc.returncode == 0, proc.stderr


def test_celery_profile_adds_redis_worker_and_flower() -> None:
    services = raw()["services"]
    in_celery = {name for name, svc in services.items() if "celery" in svc.get("profiles", [])}
    assert in_celery == {"redis", "airflow-worker", "flower"}
    always = {name for name, svc in services.items() if not svc.get("profiles")}
    assert always == {
        "airflow-secrets",
        "postgres",
        "minio",
        "minio-init",
        "airflow-init",
        "alert-sink",
        *AIRFLOW_SERVICES,
    }


def test_a_secret_left_out_of_the_env_file_is_left_to_the_generator(tmp_path: Path) -> None:
    env = strong_env_file(tmp_path)
    env.write_text(
        "".join(
            line + "\n" for line in env.read_text().splitlines() if not line.startswith("AIRFLOW_OPS_JWT")
        )
    )
    proc = compose(env, "config")
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert services["airflow-secrets"]["environment"]["AIRFLOW_OPS_JWT_SECRET"] == ""
    assert services["airflow-scheduler"]["environment"]["AIRFLOW_OPS_JWT_SECRET_CMD"] == (
        "cat /opt/airflow/secrets/jwt_secret"
    )


def test_every_referenced_variable_is_documented_in_env_example() -> None:
    referenced = {m for s in strings(raw()) for m in re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", s)}
    assert referenced
    assert referenced - set(example_vars()) == set()


def test_env_example_commits_no_secret() -> None:
    values = example_vars()
    for name in SECRETS:
        assert values[name] == "", f"{name} must stay empty in .env.example"


def test_dot_env_is_git_ignored() -> None:
    proc = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, check=False)
    assert proc.returncode == 0


def test_postgres_major_matches_the_images_pg_dump() -> None:
    services = raw()["services"]
    major = re.fullmatch(r"postgres:\$\{PG_MAJOR:-(\d+)\}", services["postgres"]["image"])
    assert major, "the postgres image tag must be ${PG_MAJOR:-N}, the same variable as the client's"
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"ARG PG_MAJOR={major.group(1)}" in dockerfile
    assert "postgresql-client-${PG_MAJOR}" in dockerfile
    assert raw()["x-airflow-build"]["args"]["PG_MAJOR"] == f"${{PG_MAJOR:-{major.group(1)}}}"


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_airflow_services_have_health_checks_and_wait_for_init(tmp_path: Path, service: str) -> None:
    svc = resolved(tmp_path)["services"][service]
    assert svc["healthcheck"]["test"]
    assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_api_server_health_check_uses_the_external_probe() -> None:
    test = " ".join(raw()["services"]["airflow-api-server"]["healthcheck"]["test"])
    assert "scripts/health_probe.py --url http://localhost:8080" in test


def test_minio_init_creates_every_bundle_bucket() -> None:
    script = (REPO / "docker" / "minio-init.sh").read_text()
    for bucket in BUCKETS:
        assert bucket in script


def test_airflow_services_wait_for_the_buckets(tmp_path: Path) -> None:
    svc = resolved(tmp_path)["services"]["airflow-init"]
    assert svc["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


def test_the_bundle_is_mounted(tmp_path: Path) -> None:
    volumes = resolved(tmp_path)["services"]["airflow-scheduler"]["volumes"]
    assert f"{REPO}:/opt/airflow/airflow-ops:ro" in volumes


def test_airflow_init_renders_the_cfg_migrates_and_sets_the_admin() -> None:
    command = "\n".join(raw()["services"]["airflow-init"]["command"])
    assert "scripts/render_cfg.py" in command and "--passwords-file" in command
    assert "airflow db migrate" in command


@pytest.mark.parametrize("profile", ["local", "celery"])
def test_compose_environment_satisfies_the_renderer(tmp_path: Path, profile: str) -> None:
    svc = resolved(tmp_path, profile if profile != "local" else None)["services"]["airflow-init"]
    environ = {k: str(v) for k, v in svc["environment"].items()}
    # airflow-init's command exports the admin password from the secrets volume
    environ["AIRFLOW_OPS_ADMIN_PASSWORD"] = sample_environ(profile)["AIRFLOW_OPS_ADMIN_PASSWORD"]
    rendered = render(profile, environ, run_secret_cmds=False)
    assert "executor = " in rendered.text


def test_secrets_reach_services_only_through_env(tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        for line in text.splitlines():
            if re.match(rf"\s*{name}:", line):
                assert "${" in line, line
