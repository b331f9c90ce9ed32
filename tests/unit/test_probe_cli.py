"""Issue 14 item 10: the external probe explains an answer that is not Airflow's health body in one
line, naming the URL and what answered, and names the variables it reads for credentials."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_ops.api_client import AirflowApi, ApiError
from airflow_ops_tools import probe

HEALTH = "/api/v2/monitor/health"


def _healthy_body() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    body: dict[str, Any] = {"metadatabase": {"status": "healthy"}}
    for name in ("scheduler", "triggerer", "dag_processor"):
        body[name] = {"status": "healthy", f"latest_{name}_heartbeat": now}
    return body


#: path -> (status, content type, body); set per test
ROUTES: dict[str, tuple[int, str, bytes]] = {}


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        status, ctype, body = ROUTES.get(
            self.path.split("?")[0], (404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>")
        )
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    ROUTES.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _probe(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = probe.main(["--url", url, "--timeout", "5", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out


def _api_line(out: str) -> str:
    [line] = [line for line in out.splitlines() if " api_server:" in line]
    return line


def test_an_html_404_names_the_url_and_asks_about_url(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_OPS_PROBE_USERNAME", raising=False)
    code, out = _probe(server, capsys)
    assert code == 2
    line = _api_line(out)
    assert f"{server}{HEALTH} answered HTTP 404 text/html, not JSON: is --url the api-server?" in line
    assert "<html" not in out and "<h1>" not in out


def test_a_non_json_200_body_is_not_a_json_decoder_message(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_OPS_PROBE_USERNAME", raising=False)
    ROUTES[HEALTH] = (200, "text/plain", b"OK")
    code, out = _probe(server, capsys)
    assert code == 2
    assert f"{server}{HEALTH} answered HTTP 200 text/plain, not JSON: is --url the api-server?" in _api_line(
        out
    )
    assert "Expecting value" not in out


def test_json_that_is_not_the_health_body_is_named(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_OPS_PROBE_USERNAME", raising=False)
    ROUTES[HEALTH] = (200, "application/json", b'["not", "health"]')
    code, out = _probe(server, capsys)
    assert code == 2
    assert "without a 'metadatabase' section" in _api_line(out) and "is --url the api-server?" in out


def test_a_health_section_of_the_wrong_shape_is_critical_not_a_crash(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_OPS_PROBE_USERNAME", raising=False)
    body = _healthy_body()
    body["scheduler"] = "up"
    body["triggerer"]["latest_triggerer_heartbeat"] = "yesterday"
    ROUTES[HEALTH] = (200, "application/json", json.dumps(body).encode())
    code, out = _probe(server, capsys)
    assert code == 2
    assert "'scheduler' is 'up', not an object" in out
    assert "latest_triggerer_heartbeat 'yesterday' is not an ISO timestamp" in out


def test_bad_credentials_name_the_environment_variables_not_a_connection(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_OPS_PROBE_USERNAME", "probe")
    monkeypatch.setenv("AIRFLOW_OPS_PROBE_PASSWORD", "wrong")
    ROUTES[HEALTH] = (200, "application/json", json.dumps(_healthy_body()).encode())
    ROUTES["/auth/token"] = (401, "application/json", b'{"detail": "Invalid credentials"}')
    code, out = _probe(server, capsys)
    assert code == 2
    [line] = [line for line in out.splitlines() if " import_errors:" in line]
    assert "check AIRFLOW_OPS_PROBE_USERNAME/AIRFLOW_OPS_PROBE_PASSWORD" in line
    assert "connection" not in out


def test_an_unreachable_api_server_keeps_its_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.delenv("AIRFLOW_OPS_PROBE_USERNAME", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = _probe(f"http://127.0.0.1:{port}", capsys)
    assert code == 2
    assert "unreachable" in _api_line(out) and "is the api-server running?" in out


def test_the_dag_side_client_keeps_naming_the_connection(server: str) -> None:
    ROUTES["/auth/token"] = (401, "application/json", b'{"detail": "Invalid credentials"}')
    with pytest.raises(ApiError, match="check the connection's login/password"):
        AirflowApi(server, "user", "wrong").token()
    with pytest.raises(
        ApiError, match=r"answered HTTP 404 text/html, not JSON: is the connection's host/port"
    ):
        AirflowApi(server).get("/api/v2/importErrors", auth=False)
