"""Guards for the defects the real `docker compose up` (make test-compose) found.

1. docker/Dockerfile builds without the PostgreSQL apt repository (PG_CLIENT_SOURCE=debian).
2. Healthchecks never read $HOSTNAME (podman leaves it out of exec environments).
3. Published ports bind to 127.0.0.1 unless AIRFLOW_OPS_BIND_ADDRESS opens them.
4. ops_config_export's ops_export_key connection exists out of the box.
5. A fresh clone runs `docker compose up` with no .env and no committed or default secret.
6. `make test` sets up (or names) what it needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ops_tools.cfgrender import RenderRefused, render

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
INIT_SECRETS = REPO / "docker" / "init-secrets.py"
PUBLISHED = {"airflow-api-server": 8080, "minio": 9001, "flower": 5555}


def compose_config(
    tmp_path: Path, env: dict[str, str] | None = None, profile: str | None = "celery"
) -> dict[str, Any]:
    """`docker-compose config` of the committed file with only ``env`` in the environment file."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not found: make test-prereqs (tests/host-setup.sh) installs it"
    env_file = tmp_path / "trial.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in (env or {}).items()))
    cmd = [binary, "--project-directory", str(REPO), "--env-file", str(env_file), "-f", str(COMPOSE)]
    if profile:
        cmd += ["--profile", profile]
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    proc = subprocess.run(
        [*cmd, "config"], capture_output=True, text=True, timeout=120, check=False, env=clean
    )
    assert proc.returncode == 0, proc.stderr
    return dict(yaml.safe_load(proc.stdout))


def run_init_secrets(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"], "AIRFLOW_OPS_SECRETS_DIR": str(directory), **env}
    return subprocess.run(
        [sys.executable, str(INIT_SECRETS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=environ,
    )


def airflow_environment(config: dict[str, Any], secrets_dir: Path) -> dict[str, str]:
    """airflow-init's environment, the secrets volume at ``secrets_dir`` instead of /opt/airflow/secrets."""
    environ = {k: str(v) for k, v in config["services"]["airflow-init"]["environment"].items()}
    return {k: v.replace("/opt/airflow/secrets", str(secrets_dir)) for k, v in environ.items()}


# -- 1: the Dockerfile without the PostgreSQL apt repository ------------------------------------


def test_pg_major_picks_the_server_image_and_the_client_together(tmp_path: Path) -> None:
    config = compose_config(tmp_path, {"PG_MAJOR": "15", "PG_CLIENT_SOURCE": "debian"})
    assert config["services"]["postgres"]["image"] == "postgres:15"
    args = config["services"]["airflow-init"]["build"]["args"]
    assert args["PG_MAJOR"] == "15" and args["PG_CLIENT_SOURCE"] == "debian"


def test_default_keeps_postgres_16_with_the_pgdg_client(tmp_path: Path) -> None:
    config = compose_config(tmp_path)
    assert config["services"]["postgres"]["image"] == "postgres:16"
    assert config["services"]["airflow-init"]["build"]["args"]["PG_CLIENT_SOURCE"] == "pgdg"


def _dockerfile_branch(source: str) -> str:
    text = (REPO / "docker" / "Dockerfile").read_text()
    match = re.search(rf"^\s+{source}\)(.*?);;", text, re.M | re.S)
    assert match, f"docker/Dockerfile has no PG_CLIENT_SOURCE={source} branch"
    return match.group(1)


def test_the_debian_client_branch_fetches_nothing_outside_the_distribution() -> None:
    branch = _dockerfile_branch("debian")
    assert "apt-get install" in branch and "postgresql-client" in branch
    assert "postgresql.org" not in branch and "curl" not in branch


def test_the_dockerfile_refuses_a_client_older_than_the_server() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    assert re.search(r'if \[ "\$\{client\}" -lt "\$\{PG_MAJOR\}" \]; then.*?exit 2', text, re.S)


# -- 2: healthchecks and $HOSTNAME --------------------------------------------------------------


def test_no_healthcheck_reads_hostname_from_the_environment(tmp_path: Path) -> None:
    for name, svc in compose_config(tmp_path)["services"].items():
        test = " ".join(svc.get("healthcheck", {}).get("test", []))
        assert "HOSTNAME" not in test, f"{name}: podman has no $HOSTNAME in healthchecks; use $(hostname)"


def test_the_worker_pings_its_own_celery_node_by_hostname(tmp_path: Path) -> None:
    test = " ".join(compose_config(tmp_path)["services"]["airflow-worker"]["healthcheck"]["test"])
    # docker-compose v1 prints the file's `$$` escape as is; v2 and the engine see `$(hostname)`
    assert re.search(r'inspect ping -d "celery@\$\$?\(hostname\)"', test), test


# -- 3: ports on 127.0.0.1 ----------------------------------------------------------------------


def _published(config: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [str(p) for p in config["services"][name]["ports"]] for name in PUBLISHED}


def test_every_published_port_binds_to_loopback_by_default(tmp_path: Path) -> None:
    services = compose_config(tmp_path)["services"]
    assert {n for n, s in services.items() if s.get("ports")} == set(PUBLISHED)
    for name, ports in _published(compose_config(tmp_path)).items():
        assert ports == [f"127.0.0.1:{PUBLISHED[name]}:{PUBLISHED[name]}/tcp"], name


def test_one_variable_opens_every_port(tmp_path: Path) -> None:
    opened = compose_config(tmp_path, {"AIRFLOW_OPS_BIND_ADDRESS": "0.0.0.0"})  # noqa: S104
    for name, ports in _published(opened).items():
        assert ports == [f"0.0.0.0:{PUBLISHED[name]}:{PUBLISHED[name]}/tcp"], name


def test_another_api_port_moves_the_mapping_and_the_base_url_together(tmp_path: Path) -> None:
    config = compose_config(tmp_path, {"AIRFLOW_API_PORT": "18080"})
    assert _published(config)["airflow-api-server"] == ["127.0.0.1:18080:8080/tcp"]
    env = config["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW_OPS_API_BASE_URL"] == "http://localhost:18080"


# -- 4 and 5: generated secrets, connections ----------------------------------------------------


def test_a_fresh_clone_needs_no_env_file(tmp_path: Path) -> None:
    assert ":?" not in COMPOSE.read_text(), "a required ${VAR:?} makes a fresh clone fail"
    config = compose_config(tmp_path, profile=None)
    assert "airflow-secrets" in config["services"]


def test_no_secret_has_a_default_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    for name in (
        "POSTGRES_PASSWORD",
        "AIRFLOW_OPS_FERNET_KEY",
        "AIRFLOW_OPS_API_SECRET_KEY",
        "AIRFLOW_OPS_JWT_SECRET",
        "AIRFLOW_OPS_ADMIN_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "AIRFLOW_OPS_EXPORT_KEY",
    ):
        for default in re.findall(rf"\$\{{{name}:?-([^}}]*)\}}", text):
            assert default == "", f"{name} has the default {default!r}: a known default is no secret"


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    generated = run_init_secrets(tmp_path).stdout.count(": generated")
    first = {p.name: p.read_text() for p in tmp_path.iterdir()}
    out = run_init_secrets(tmp_path).stdout
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == first
    assert generated >= 8 and ": generated" not in out and out.count(": kept") == generated
    assert all(oct(p.stat().st_mode & 0o777) == "0o640" for p in tmp_path.iterdir())


def test_two_fresh_volumes_never_share_a_secret(tmp_path: Path) -> None:
    run_init_secrets(tmp_path / "a")
    run_init_secrets(tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        if path.suffix != ".json":
            assert path.read_text() != (tmp_path / "b" / path.name).read_text(), path.name


def test_a_value_from_dot_env_replaces_the_stored_secret(tmp_path: Path) -> None:
    run_init_secrets(tmp_path)
    out = run_init_secrets(tmp_path, POSTGRES_PASSWORD="Pq7vN2xR9tL4kW8m").stdout
    assert "postgres_password: from POSTGRES_PASSWORD" in out
    assert (tmp_path / "postgres_password").read_text() == "Pq7vN2xR9tL4kW8m"
    assert ":Pq7vN2xR9tL4kW8m@postgres:5432/" in (tmp_path / "sql_alchemy_conn").read_text()
    assert "Pq7vN2xR9tL4kW8m" not in out


def test_the_dags_connections_come_from_the_generated_file(tmp_path: Path) -> None:
    from airflow.secrets.local_filesystem import LocalFilesystemBackend

    config = compose_config(tmp_path)
    run_init_secrets(tmp_path / "secrets")
    env = airflow_environment(config, tmp_path / "secrets")
    assert env["AIRFLOW__SECRETS__BACKEND"] == "airflow.secrets.local_filesystem.LocalFilesystemBackend"
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    backend = LocalFilesystemBackend(**kwargs)
    key = backend.get_connection("ops_export_key")
    assert key is not None and key.password and len(key.password) >= 32
    db = backend.get_connection("airflow_metadata_db")
    assert (
        db is not None
        and db.host == "postgres"
        and db.password == (tmp_path / "secrets" / "postgres_password").read_text()
    )
    aws = backend.get_connection("aws_default")
    assert aws is not None and aws.extra_dejson["endpoint_url"] == "http://minio:9000"
    assert backend.get_connection("airflow_ops_api") is not None


def test_every_connection_the_bundle_configures_exists_in_compose(tmp_path: Path) -> None:
    run_init_secrets(tmp_path)
    defined = set(json.loads((tmp_path / "connections.json").read_text()))
    wanted = set()
    for path in (REPO / "config").glob("*.yml"):
        for key, value in _walk(yaml.safe_load(path.read_text())):
            if key.endswith("conn_id") and isinstance(value, str) and value:
                wanted.add(value)
    optional = {"smtp_default", "ops_alert_webhook"}  # alerts: off until configured (README)
    assert wanted - optional <= defined


def _walk(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [(k, v) for k, v in node.items()] + [kv for v in node.values() for kv in _walk(v)]
    if isinstance(node, list):
        return [kv for v in node for kv in _walk(v)]
    return []


@pytest.mark.parametrize("profile", ["local", "celery"])
def test_generated_secrets_pass_the_strict_checks(tmp_path: Path, profile: str) -> None:
    config = compose_config(tmp_path, {"AIRFLOW_OPS_PROFILE": profile})
    run_init_secrets(tmp_path / "secrets")
    env = airflow_environment(config, tmp_path / "secrets")
    env["AIRFLOW_OPS_ADMIN_PASSWORD"] = (tmp_path / "secrets" / "admin_password").read_text()
    rendered = render(profile, env, run_secret_cmds=True)
    assert f"fernet_key_cmd = cat {tmp_path}/secrets/fernet_key" in rendered.text
    assert "jwt_secret_cmd = " in rendered.text and "sql_alchemy_conn_cmd = " in rendered.text
    assert rendered.warnings == []


def test_a_weak_secret_from_dot_env_is_still_refused_outside_the_local_profile(tmp_path: Path) -> None:
    config = compose_config(tmp_path, {"AIRFLOW_OPS_PROFILE": "celery"})
    run_init_secrets(tmp_path / "secrets", AIRFLOW_OPS_JWT_SECRET="short")
    env = airflow_environment(config, tmp_path / "secrets")
    env["AIRFLOW_OPS_ADMIN_PASSWORD"] = (tmp_path / "secrets" / "admin_password").read_text()
    with pytest.raises(RenderRefused, match="AIRFLOW_OPS_JWT_SECRET is shorter than 32 bytes"):
        render("celery", env, run_secret_cmds=True)


def test_every_component_waits_for_the_secrets(tmp_path: Path) -> None:
    services = compose_config(tmp_path)["services"]
    for name, svc in services.items():
        if name in ("airflow-secrets", "redis", "alert-sink"):  # they read no secret
            continue
        assert svc["depends_on"]["airflow-secrets"]["condition"] == "service_completed_successfully", name


# -- 6: make test sets itself up ----------------------------------------------------------------


def test_make_test_runs_the_host_setup_first() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: test-prereqs ", makefile, re.M)
    assert re.search(r"^test-prereqs:.*\n\t@?bash tests/host-setup.sh", makefile, re.M)


def test_the_host_setup_names_the_exact_command_for_what_is_missing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "pg_dump", "pg_ctlcluster", "redis-server", "git", "node", "npm"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or "/bin/true")
    proc = subprocess.run(
        ["bash", str(REPO / "tests" / "host-setup.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": str(bin_dir)},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "make test: missing docker-compose: run: sudo apt-get install -y docker-compose"
        " (then make test again)"
    )


def test_ci_runs_make_test_then_make_test_compose() -> None:
    text = (REPO / ".ci" / "run").read_text()
    assert text.index("make test PYTHON") < text.index("make test-compose PYTHON")


def test_dag_processor_and_triggerer_checks_read_the_heartbeat_cheaply(tmp_path: Path) -> None:
    # `airflow jobs check` boots the whole CLI: on a busy 2-core machine it ran past its 30 s timeout
    # and marked a live triggerer unhealthy (found by make test-compose).
    services = compose_config(tmp_path)["services"]
    for name, component in (("airflow-dag-processor", "dag_processor"), ("airflow-triggerer", "triggerer")):
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "airflow jobs check" not in test, name
        assert (
            f"scripts/health_probe.py --url http://airflow-api-server:8080 --components {component}" in test
        )
