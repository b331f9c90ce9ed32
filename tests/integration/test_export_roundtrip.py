"""ops_config_export under the real scheduler, restored into a fresh Airflow DB with the restore CLI.

Entries use a unique prefix on the shared stack and are deleted afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from cryptography.fernet import Fernet

from tests.harness import AirflowStack, MotoServer, PostgresServer

REPO = Path(__file__).parents[2]
DAG_ID = "ops_config_export"
BUCKET = "airflow-ops-exports"
DAY1 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


@dataclass
class Seed:
    prefix: str
    variables: dict[str, Any]
    connections: dict[str, Any]
    secrets: list[str] = field(default_factory=list)


def _make_seed() -> Seed:
    p = f"xp{uuid.uuid4().hex[:6]}_"
    tok = uuid.uuid4().hex
    variables: dict[str, Any] = {}
    secrets: list[str] = []
    for i in range(20):
        variables[f"{p}plain_{i}"] = f"plain value {i}"
    for i in range(10):
        variables[f"{p}json_{i}"] = {
            "value": {"n": i, "list": [1, 2, {"deep": True}], "s": "x"},
            "description": f"JSON value {i}",
        }
    for i in range(10):
        secret = f"pw-{tok}-{i}"
        secrets.append(secret)
        variables[f"{p}db_password_{i}"] = {"value": secret, "description": "a password"}
    for i in range(5):
        secret = f"secret-{tok}-{i}"
        secrets.append(secret)
        variables[f"{p}api_secret_{i}"] = secret
    variables[f"{p}compact_json"] = '{"a":1,"b":[true,null]}'
    variables[f"{p}exponent"] = "1e3"
    variables[f"{p}padded"] = "  42  "
    variables[f"{p}unicode"] = {"value": "grüße ✓ 日本", "description": "ünïcödé description"}
    variables[f"{p}multiline"] = "line1\nline2\ttab"

    connections: dict[str, Any] = {}
    for i in range(10):
        pw = f"pgpw-{tok}-{i}"
        secrets.append(pw)
        connections[f"{p}pg_{i}"] = {
            "conn_type": "postgres",
            "host": f"db{i}.internal",
            "port": 5432 + i,
            "login": f"user{i}",
            "password": pw,
            "schema": f"app{i}",
            "description": f"postgres {i}",
        }
    for i in range(8):
        key = f"awskey-{tok}-{i}"
        secrets.append(key)
        connections[f"{p}aws_{i}"] = {
            "conn_type": "aws",
            "login": f"AKIA{i:04d}",
            "password": key,
            "extra": {
                "region_name": "eu-west-1",
                "role_arn": f"arn:aws:iam::1:role/r{i}",
                "config_kwargs": {"retries": {"max_attempts": i}},
            },
        }
    for i in range(8):
        connections[f"{p}http_{i}"] = {
            "conn_type": "http",
            "host": f"api{i}.example.com",
            "port": 8443,
            "schema": "https",
            "extra": {"headers": {"X-Team": f"t{i}"}},
        }
    for i in range(3):
        pw = f"pässwörd-✓-秘密-{tok}-{i}"
        secrets.append(pw)
        connections[f"{p}unicode_{i}"] = {"conn_type": "generic", "host": "h", "login": "ü", "password": pw}
    connections[f"{p}empty"] = {"conn_type": "generic"}
    return Seed(p, variables, connections, secrets)


def _psql(url: str) -> Any:
    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))


def _import_files(stack: AirflowStack, tmp: Path, variables: dict[str, Any], conns: dict[str, Any]) -> None:
    if variables:
        (tmp / "v.json").write_text(json.dumps(variables))
        stack.airflow("variables", "import", str(tmp / "v.json"), "--action-on-existing-key", "overwrite")
    if conns:
        (tmp / "c.json").write_text(json.dumps(conns))
        stack.airflow("connections", "import", str(tmp / "c.json"), "--overwrite")


@pytest.fixture(scope="module")
def seed(airflow: AirflowStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    s = _make_seed()
    _import_files(airflow, tmp_path_factory.mktemp("seed"), s.variables, s.connections)
    yield s
    with _psql(airflow.sql_alchemy_conn) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM variable WHERE key LIKE %s", (s.prefix + "%",))
        cur.execute("DELETE FROM connection WHERE conn_id LIKE %s", (s.prefix + "%",))
    conn.close()


@pytest.fixture(scope="module")
def first_run(airflow: AirflowStack, seed: Seed) -> Any:
    run = airflow.run_dag(DAG_ID, logical_date=DAY1, timeout=300)
    assert run.state == "success", run.log_text()[-4000:]
    return run


@pytest.fixture(scope="module")
def export_key(airflow: AirflowStack) -> str:
    uri = airflow.env["AIRFLOW_CONN_OPS_EXPORT_KEY"]
    return uri.split("://:", 1)[1].rstrip("@")


@pytest.fixture(scope="module")
def first_report(airflow: AirflowStack, first_run: Any) -> dict[str, Any]:
    report: dict[str, Any] = airflow.xcom(DAG_ID, first_run.run_id, "report")
    return report


@pytest.fixture(scope="module")
def object_uri(first_report: dict[str, Any]) -> str:
    return first_report["details"]["object"]


@pytest.fixture(scope="module")
def target(airflow: AirflowStack, pg_server: PostgresServer) -> Iterator[dict[str, str]]:
    """A fresh, migrated Airflow DB with its own fernet key."""
    name = pg_server.create_database("airflow_ops_restore")
    url = pg_server.sqlalchemy_url(name)
    fernet = Fernet.generate_key().decode()
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, "AIRFLOW__CORE__FERNET_KEY": fernet}
    airflow.airflow("db", "migrate", env=env)
    yield env
    pg_server.drop_database(name)


def _restore(
    stack: AirflowStack, s3: MotoServer, target: dict[str, str], source: str, key: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **stack.env,
        **target,
        "AIRFLOW_OPS_EXPORT_KEY": key,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "restore_config_export.py"),
            source,
            "--endpoint-url",
            s3.endpoint_url,
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _count(target: dict[str, str], prefix: str) -> tuple[int, int]:
    conn = _psql(target["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM variable WHERE key LIKE %s", (prefix + "%",))
        n_var = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM connection WHERE conn_id LIKE %s", (prefix + "%",))
        n_conn = cur.fetchone()[0]
    conn.close()
    return n_var, n_conn


@pytest.fixture(scope="module")
def refused(
    airflow: AirflowStack,
    s3_server: MotoServer,
    target: dict[str, str],
    object_uri: str,
    seed: Seed,
    export_key: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Restore attempts that must import nothing, run against the empty target first."""
    out: dict[str, Any] = {}
    out["wrong_key"] = _restore(airflow, s3_server, target, object_uri, "w" * 40)
    bucket, _, key = object_uri[5:].partition("/")
    blob = bytearray(s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    blob[-40] ^= 0x01
    tampered = tmp_path_factory.mktemp("tampered") / "export.aopscx"
    tampered.write_bytes(bytes(blob))
    out["tampered"] = _restore(airflow, s3_server, target, str(tampered), export_key)
    out["dry_run"] = _restore(airflow, s3_server, target, object_uri, export_key, "--dry-run")
    out["counts"] = _count(target, seed.prefix)
    return out


@pytest.fixture(scope="module")
def restored(
    airflow: AirflowStack,
    s3_server: MotoServer,
    target: dict[str, str],
    object_uri: str,
    export_key: str,
    refused: dict[str, Any],
) -> dict[str, str]:
    proc = _restore(airflow, s3_server, target, object_uri, export_key)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def _cli_exports(stack: AirflowStack, env: dict[str, str], prefix: str, tmp: Path) -> tuple[Any, Any]:
    stack.airflow("variables", "export", str(tmp / "v.json"), env=env)
    stack.airflow("connections", "export", str(tmp / "c.json"), "--file-format", "json", env=env)
    variables = json.loads((tmp / "v.json").read_text())
    conns = json.loads((tmp / "c.json").read_text())
    return (
        {k: v for k, v in variables.items() if k.startswith(prefix)},
        {k: v for k, v in conns.items() if k.startswith(prefix)},
    )


# --------------------------------------------------------------------------- round trip
def test_restored_db_gives_identical_cli_exports(
    airflow: AirflowStack, seed: Seed, restored: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    src = _cli_exports(airflow, {}, seed.prefix, tmp_path / "src")
    dst = _cli_exports(airflow, restored, seed.prefix, tmp_path / "dst")
    assert len(src[0]) == len(seed.variables) and len(src[1]) == len(seed.connections)
    assert dst == src


def test_restored_variables_keep_stored_strings_byte_for_byte(
    airflow: AirflowStack, seed: Seed, restored: dict[str, str]
) -> None:
    from airflow_ops.connections import PostgresTarget
    from airflow_ops.export.reader import read_snapshot

    def snap(url: str, fernet: str) -> Any:
        conn = _psql(url)
        dsn = conn.get_dsn_parameters()
        conn.close()
        t = PostgresTarget(dsn["host"], int(dsn["port"]), dsn["user"], dsn["dbname"])
        return read_snapshot(t, fernet)

    a = snap(airflow.sql_alchemy_conn, airflow.env["AIRFLOW__CORE__FERNET_KEY"])
    b = snap(restored["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], restored["AIRFLOW__CORE__FERNET_KEY"])
    mine = [k for k in a.variables if k.startswith(seed.prefix)]
    assert {k: a.variables[k] for k in mine} == {k: b.variables[k] for k in mine}
    assert b.variables[seed.prefix + "exponent"].value == "1e3"
    conns = [c for c in a.connections if c.startswith(seed.prefix)]
    assert {c: a.connections[c] for c in conns} == {c: b.connections[c] for c in conns}


# --------------------------------------------------------------------------- secrets
def test_stored_object_and_manifest_hold_no_plaintext_secret(
    s3_server: MotoServer, seed: Seed, object_uri: str
) -> None:
    bucket, _, key = object_uri[5:].partition("/")
    client = s3_server.client()
    blobs = [client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in (key, key + ".manifest.json")]
    for secret in seed.secrets:
        for blob in blobs:
            assert secret.encode("utf-8") not in blob
            assert json.dumps(secret)[1:-1].encode() not in blob


def test_task_logs_and_xcom_hold_no_plaintext_secret(
    seed: Seed, first_run: Any, first_report: dict[str, Any]
) -> None:
    logs = first_run.log_text()
    assert "Run report" in logs
    xcom = json.dumps(first_report, ensure_ascii=False)
    for secret in seed.secrets:
        for text in (logs, xcom, first_run.note or ""):
            assert secret not in text
            assert json.dumps(secret)[1:-1] not in text


def test_report_counts_and_lists_new_entries_by_name(seed: Seed, first_report: dict[str, Any]) -> None:
    metrics = first_report["metrics"]
    assert metrics["variables"] >= len(seed.variables)
    assert metrics["connections"] >= len(seed.connections)
    assert metrics["encrypted"] is True and first_report["details"]["encrypted"].startswith("yes")


# --------------------------------------------------------------------------- refusals
def test_wrong_key_fails_clearly_and_imports_nothing(refused: dict[str, Any]) -> None:
    proc = refused["wrong_key"]
    assert proc.returncode == 2
    assert "wrong key" in proc.stderr and "nothing was imported" in proc.stderr
    assert refused["counts"] == (0, 0)


def test_tampered_object_fails_clearly_and_imports_nothing(refused: dict[str, Any]) -> None:
    proc = refused["tampered"]
    assert proc.returncode == 2
    assert "modified" in proc.stderr and "nothing was imported" in proc.stderr
    assert refused["counts"] == (0, 0)


def test_dry_run_lists_what_would_be_imported_and_imports_nothing(
    refused: dict[str, Any], seed: Seed
) -> None:
    proc = refused["dry_run"]
    assert proc.returncode == 0, proc.stderr
    assert "dry run: nothing imported" in proc.stdout
    assert seed.prefix + "pg_0" in proc.stdout
    assert refused["counts"] == (0, 0)


def test_existing_differing_entry_is_replaced_only_with_overwrite(
    airflow: AirflowStack,
    s3_server: MotoServer,
    seed: Seed,
    restored: dict[str, str],
    object_uri: str,
    export_key: str,
    tmp_path: Path,
) -> None:
    name = seed.prefix + "plain_0"
    airflow.airflow("variables", "set", name, "changed in target", env=restored)
    proc = _restore(airflow, s3_server, restored, object_uri, export_key)
    assert proc.returncode == 0, proc.stderr
    assert "left unchanged (use --overwrite)" in proc.stdout
    got = airflow.airflow("variables", "get", name, env=restored).stdout.strip()
    assert got == "changed in target"
    proc = _restore(airflow, s3_server, restored, object_uri, export_key, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert airflow.airflow("variables", "get", name, env=restored).stdout.strip() == "plain value 0"


# --------------------------------------------------------------------------- diff
def test_second_run_diff_lists_exactly_the_changes(
    airflow: AirflowStack, seed: Seed, first_run: Any, tmp_path: Path
) -> None:
    p = seed.prefix
    _import_files(
        airflow,
        tmp_path,
        {f"{p}new_a": "a", f"{p}new_b": {"value": {"x": 1}, "description": "d"}, f"{p}plain_1": "edited"},
        {
            f"{p}pg_1": {**seed.connections[f"{p}pg_1"], "password": "rotated-password-123"},
            f"{p}new_conn": {"conn_type": "http", "host": "n"},
        },
    )
    with _psql(airflow.sql_alchemy_conn) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM variable WHERE key = %s", (f"{p}plain_2",))
        cur.execute("DELETE FROM connection WHERE conn_id = %s", (f"{p}http_0",))
    conn.close()
    run = airflow.run_dag(DAG_ID, logical_date=DAY2, timeout=300)
    assert run.state == "success", run.log_text()[-4000:]
    diff = airflow.xcom(DAG_ID, run.run_id, "export")["diff"]
    mine = {
        k: sorted(n for n in diff[k] if n.startswith(p))
        for k in (
            "added_variables",
            "removed_variables",
            "changed_variables",
            "added_connections",
            "removed_connections",
            "changed_connections",
        )
    }
    assert mine == {
        "added_variables": [f"{p}new_a", f"{p}new_b"],
        "removed_variables": [f"{p}plain_2"],
        "changed_variables": [f"{p}plain_1"],
        "added_connections": [f"{p}new_conn"],
        "removed_connections": [f"{p}http_0"],
        "changed_connections": [f"{p}pg_1"],
    }
    assert "rotated-password-123" not in run.log_text()
