"""Config export benchmark: 5k variables + 5k connections read, sealed and uploaded.

``export_seconds_10k`` is the median wall time of the export path the DAG task runs (read the
metadata DB and decrypt, build the import documents, keyed hashes, diff against the previous
manifest, gzip + AES-256-GCM, upload to a moto S3 server over HTTP, verify, write the manifest),
on a freshly migrated Airflow DB.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from airflow_ops.connections import PostgresTarget
from airflow_ops.export.crypto import ExportKey
from airflow_ops.export.reader import read_snapshot
from airflow_ops.export.service import export_snapshot
from tests.harness import MotoServer, PostgresServer, venv_bin

N_VARIABLES = 5000
N_CONNECTIONS = 5000
ROUNDS = 3
BUCKET = "airflow-ops-exports"


def _migrate(url: str, fernet: str, home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__FERNET_KEY": fernet,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    subprocess.run(
        [venv_bin("airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600
    )


def _fill(pg: PostgresServer, dbname: str, fernet: Fernet) -> None:
    import psycopg2
    from psycopg2.extras import execute_values

    def enc(s: str) -> str:
        return fernet.encrypt(s.encode()).decode()

    conn = psycopg2.connect(pg.url_for(dbname))
    with conn, conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO variable (key, val, description, is_encrypted) VALUES %s",
            [
                (
                    f"bench_var_{i:05d}",
                    enc(json.dumps({"i": i, "payload": secrets.token_urlsafe(90), "nested": {"k": [i, i]}})),
                    f"bench variable {i}" if i % 2 else None,
                    True,
                )
                for i in range(N_VARIABLES)
            ],
            page_size=1000,
        )
        execute_values(
            cur,
            "INSERT INTO connection (conn_id, conn_type, description, host, schema, login, password, port,"
            " extra, is_encrypted, is_extra_encrypted) VALUES %s",
            [
                (
                    f"bench_conn_{i:05d}",
                    ("postgres", "aws", "http")[i % 3],
                    None,
                    f"host{i}.internal",
                    "db",
                    f"user{i}",
                    enc(secrets.token_urlsafe(24)),
                    5432,
                    enc(json.dumps({"region_name": "eu-west-1", "endpoint_url": f"https://e{i}"})),
                    True,
                    True,
                )
                for i in range(N_CONNECTIONS)
            ],
            page_size=1000,
        )
    conn.close()


def run() -> dict[str, float]:
    pg = PostgresServer()
    dbname = pg.create_database("airflow_ops_bench_export")
    moto = MotoServer().start()
    try:
        fernet_key = Fernet.generate_key().decode()
        with tempfile.TemporaryDirectory(prefix="bench-export-") as home:
            _migrate(pg.sqlalchemy_url(dbname), fernet_key, Path(home))
        _fill(pg, dbname, Fernet(fernet_key.encode()))
        client = moto.client()
        client.create_bucket(Bucket=BUCKET)
        t = pg.target(dbname)
        target = PostgresTarget(t["host"], t["port"], t["user"], dbname, t["password"])
        key = ExportKey("bench-export-key-" + "z" * 32)
        times, size = [], 0
        for i in range(ROUNDS):
            started = time.perf_counter()
            snap = read_snapshot(target, fernet_key)
            summary = export_snapshot(
                snap,
                key,
                client,
                bucket=BUCKET,
                prefix="bench",
                dag_id="ops_config_export",
                run_id=f"bench_{i}",
                when=dt.datetime(2026, 1, 1 + i, tzinfo=dt.UTC),
            )
            times.append(time.perf_counter() - started)
            assert summary["variables"] == N_VARIABLES and summary["connections"] == N_CONNECTIONS
            size = int(summary["object_bytes"])
        return {
            "export_seconds_10k": round(statistics.median(times), 3),
            "export_object_mb_10k": round(size / 1e6, 3),
        }
    finally:
        moto.stop()
        pg.drop_database(dbname)
