"""Issue 19: bounded network reads, heartbeats from the future, and the one redactor."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_ops.api_client import AirflowApi, ApiError, ApiUnreachableError
from airflow_ops.health import Verdict, check_components
from airflow_ops.kinds.health_probe.schema import HealthThresholds
from airflow_ops.redact import redact, register_secret


def _serve(handler: object) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()

    def loop() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            threading.Thread(target=handler, args=(conn, stop), daemon=True).start()  # type: ignore[arg-type]

    threading.Thread(target=loop, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    sock.close()


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            conn.sendall(b" ")
            time.sleep(0.2)
    except OSError:
        pass
    finally:
        conn.close()


def _huge(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        chunk = b"[" * 65536
        while not stop.is_set():
            conn.sendall(chunk)
    except OSError:
        pass
    finally:
        conn.close()


@pytest.fixture
def dripping() -> Iterator[str]:
    yield from _serve(_drip)


@pytest.fixture
def endless() -> Iterator[str]:
    yield from _serve(_huge)


def test_a_server_dripping_a_byte_at_a_time_meets_the_total_deadline(dripping: str) -> None:
    started = time.monotonic()
    with pytest.raises(ApiUnreachableError, match="within 1s"):
        AirflowApi(dripping, timeout=1.0).health()
    assert time.monotonic() - started < 3


def test_an_endless_body_stops_at_the_cap(endless: str) -> None:
    with pytest.raises(ApiError, match="more than 1 MiB"):
        AirflowApi(endless, timeout=5.0, max_body_bytes=1 << 20).health()


def _body(offset_s: float) -> dict[str, object]:
    ts = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)).isoformat()
    return {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": ts}}


@pytest.mark.parametrize("ahead", [30.0, 3600.0, 86400.0 * 365])
def test_a_heartbeat_from_the_future_is_critical_and_names_the_skew(ahead: float) -> None:
    [result] = check_components(_body(ahead), ["scheduler"], HealthThresholds(), dt.datetime.now(dt.UTC))
    assert result.verdict == Verdict.CRITICAL
    assert "in the future" in result.detail and "clocks" in result.detail


def test_a_heartbeat_a_second_ahead_is_ordinary_skew() -> None:
    [result] = check_components(_body(1.0), ["scheduler"], HealthThresholds(), dt.datetime.now(dt.UTC))
    assert result.verdict == Verdict.OK and result.value == 0.0


_PASSWORDS = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N", "P", "S"], exclude_characters="@ '\""),
    min_size=4,
    max_size=30,
)


@given(
    scheme=st.sampled_from(["postgresql+psycopg2", "postgresql", "http", "https", "redis", "db+postgresql"]),
    user=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    password=_PASSWORDS,
)
def test_the_redactor_masks_the_password_of_any_url(scheme: str, user: str, password: str) -> None:
    password = "Pw" + password
    text = f"refused {scheme}://{user}:{password}@db.example:5432/airflow?sslmode=require (port)"
    masked = redact(text, environ={})
    assert password not in masked
    assert f"{scheme}://{user}:***@" in masked


def test_the_redactor_masks_registered_and_given_secrets_only() -> None:
    register_secret("registered-secret-value")
    text = redact("a registered-secret-value and a given-one-12 in airflow", ["given-one-12"])
    assert text == "a *** and a *** in airflow"


def test_secret_env_values_are_masked_as_whole_tokens() -> None:
    env = {"PGPASSWORD": "airflowpw", "AIRFLOW_OPS_JWT_SECRET": "s3cr3t-jwt-value-123", "HOME": "/root"}
    assert redact("login airflowpw failed; airflowpwx stays; s3cr3t-jwt-value-123", environ=env) == (
        "login *** failed; airflowpwx stays; ***"
    )
