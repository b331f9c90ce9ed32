"""Shared fixtures: real PostgreSQL, a moto S3 server, SMTP and webhook receivers, and a real Airflow.

The real Airflow (scheduler, dag-processor, triggerer, api-server on LocalExecutor) is started
once per session and shared; tests that stop a component start it again before they return.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    AirflowStack,
    MotoServer,
    PostgresServer,
    S3rverServer,
    StatsdSink,
    airflow_stack,
    free_port,
)

REPO = Path(__file__).resolve().parents[1]

# Unit tests that import airflow must never read or write ~/airflow.
os.environ.setdefault(
    "AIRFLOW_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"airflow_ops_unit_{os.getpid()}")
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# Property-based tests draw the same examples on every run (a deterministic suite) and keep no example
# database in the clone; HYPOTHESIS_PROFILE=explore draws fresh ones when hunting for new failures.
# Neither profile times an example (Hypothesis' default 200 ms deadline, and its too_slow health check
# on drawing, fail a passing test on a loaded machine): what a test asserts is behaviour, not speed.
from hypothesis import HealthCheck as _HealthCheck  # noqa: E402
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_UNTIMED = {"deadline": None, "suppress_health_check": [_HealthCheck.too_slow]}
_hypothesis_settings.register_profile("deterministic", derandomize=True, database=None, **_UNTIMED)
_hypothesis_settings.register_profile("explore", derandomize=False, database=None, **_UNTIMED)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
BUCKETS = ("airflow-ops-backups", "airflow-ops-exports", "airflow-ops-archive", "airflow-ops-logs")


@pytest.fixture(scope="session")
def pg_server() -> PostgresServer:
    import psycopg2

    server = PostgresServer()
    try:
        psycopg2.connect(server.admin_url, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {server.admin_url} unreachable (set AIRFLOW_OPS_TEST_PG): {exc}")
    return server


@pytest.fixture
def scratch_db(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database dropped after the test."""
    name = pg_server.create_database("airflow_ops_scratch")
    yield name
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    client = server.client()
    for bucket in BUCKETS:
        client.create_bucket(Bucket=bucket)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3rver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3rverServer]:
    """s3rver over HTTP: a second, independent S3 implementation (Node.js, objects on disk)."""
    server = S3rverServer(tmp_path_factory.mktemp("s3rver")).start(BUCKETS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3rver_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3rverServer]:
    """s3rver over HTTPS (self-signed), where botocore's default checksums send aws-chunked bodies."""
    server = S3rverServer(tmp_path_factory.mktemp("s3rver_tls"), tls=True).start(BUCKETS)
    yield server
    server.stop()


class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[dict[str, Any]] = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.append(
                    {
                        "from": envelope.mail_from,
                        "to": list(envelope.rcpt_tos),
                        "data": envelope.content.decode("utf-8", "replace"),
                    }
                )
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def conn_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@localhost"},
            }
        )


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


class WebhookSink:
    """A real HTTP receiver that records JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests.append({"path": self.path, "json": json.loads(body or b"null")})
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                sink.requests.append({"path": self.path, "json": None, "method": "GET"})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def conn_json(self, path: str) -> str:
        return json.dumps({"conn_type": "http", "host": f"{self.url}{path}"})


@pytest.fixture(scope="session")
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    sink.thread.start()
    yield sink
    sink.server.shutdown()


@pytest.fixture(scope="session")
def statsd_sink() -> Iterator[StatsdSink]:
    sink = StatsdSink()
    sink.thread.start()
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def airflow(
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PostgresServer,
    s3_server: MotoServer,
    smtp_sink: SmtpSink,
    webhook_sink: WebhookSink,
    statsd_sink: StatsdSink,
) -> Iterator[AirflowStack]:
    """The shared real Airflow: the bundle's dags/ and plugins/ as dags and plugins folders; its
    metrics (Airflow's own and the reports') go to the StatsD listener ``statsd_sink``."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **statsd_sink.env(),
        "AIRFLOW_CONN_AWS_DEFAULT": s3_server.aws_conn_uri(),
        "AIRFLOW_CONN_SMTP_DEFAULT": smtp_sink.conn_json(),
        "AIRFLOW_CONN_OPS_ALERT_WEBHOOK": webhook_sink.conn_json("/alerts"),
        "AIRFLOW_OPS_TEST_MODE": "1",
        "AIRFLOW_CONN_OPS_EXPORT_KEY": "generic://:ops-test-export-key-6f1c2b9e8d7a4c3b5e@",
    }
    with airflow_stack(home, pg_server, REPO / "dags", REPO / "plugins", extra_env=env) as stack:
        stack.wait_for_dags(sorted(p.stem for p in (REPO / "dags").glob("*.py")))
        yield stack


INTEGRATION = REPO / "tests" / "integration"
#: The integration modules ``make test-compat`` runs on every supported Airflow minor besides the whole
#: suite on the default one: every DAG under a real scheduler, db clean on aged rows archived to S3,
#: metrics into a real StatsD listener, alerts and deadline alerts, the Maintenance page in Chromium.
COMPAT_MODULES = {
    "test_aa_console",
    "test_backup_roundtrip",
    "test_db_cleanup",
    "test_deadline_alert",
    "test_export_roundtrip",
    "test_health_probe",
    "test_log_cleanup",
    "test_metrics_statsd",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One rule marks integration tests: they live in tests/integration/ (a test elsewhere that asks
    for a real service fails here, so a unit test never needs one). The shared Airflow adds ``airflow``."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        in_folder = INTEGRATION in Path(str(item.fspath)).parents
        if {"airflow", "pg_server", "s3_server", "s3rver_server", "s3rver_tls", "scratch_db"} & fixtures and (
            not in_folder
        ):
            raise pytest.UsageError(f"{item.nodeid} uses a real service: move it to tests/integration/")
        if in_folder:
            item.add_marker(pytest.mark.integration)
            if Path(str(item.fspath)).stem in COMPAT_MODULES:
                item.add_marker(pytest.mark.compat)
        if "airflow" in fixtures:
            item.add_marker(pytest.mark.airflow)
