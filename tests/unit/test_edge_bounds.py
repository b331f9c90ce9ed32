"""Issue 19: bounded network reads, heartbeats from the future, and the one redactor."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_ops.api_client import WIND_DOWN_S, AirflowApi, ApiError, ApiUnreachableError, _Inflight
from airflow_ops.health import Verdict, check_components
from airflow_ops.kinds.health_probe.schema import HealthThresholds
from airflow_ops.redact import redact, register_secret
from tests.harness import self_signed_cert


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


def _drip(conn: socket.socket, stop: threading.Event, already_read: bool = False) -> None:
    if not already_read:
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


#: Slack for a loaded machine on every bound these tests assert: the servers below would hold a request
#: for hours without the deadline, so a bound this loose still tells a deadline from a hang.
SLACK_S = 15.0


def test_a_server_dripping_a_byte_at_a_time_meets_the_total_deadline(dripping: str) -> None:
    started = time.monotonic()
    with pytest.raises(ApiUnreachableError, match="within 1s"):
        AirflowApi(dripping, timeout=1.0).health()
    assert time.monotonic() - started < 1.0 + WIND_DOWN_S + SLACK_S


def test_an_endless_body_stops_at_the_cap(endless: str) -> None:
    with pytest.raises(ApiError, match="more than 1 MiB"):
        AirflowApi(endless, timeout=5.0, max_body_bytes=1 << 20).health()


def _drip_headers(conn: socket.socket, stop: threading.Event) -> None:
    """Headers a byte at a time, each byte well within the per-read timeout: only the deadline stops it."""
    conn.recv(65536)
    try:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
            if stop.is_set():
                break
            conn.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass
    finally:
        conn.close()


def _token_then_drip(conn: socket.socket, stop: threading.Event) -> None:
    """A quick keep-alive answer to the token request, then a dripping body on the same connection.

    Whether the client reuses the connection for the next request is its pool's choice: a request
    that is not the token's (on this connection or a new one) always gets the dripping body.
    """
    first = conn.recv(65536)
    if not first.startswith(b"POST"):  # not the token request: the client opened another connection
        _drip(conn, stop, already_read=True)
        return
    token = b'{"access_token": "t"}'
    try:
        conn.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
            + f"Content-Length: {len(token)}\r\n\r\n".encode()
            + token
        )
    except OSError:
        conn.close()
        return
    _drip(conn, stop)


@pytest.fixture
def dripping_headers() -> Iterator[str]:
    yield from _serve(_drip_headers)


@pytest.fixture
def token_then_drip() -> Iterator[str]:
    yield from _serve(_token_then_drip)


@pytest.fixture
def tls_dripping(tmp_path: Path) -> Iterator[str]:
    """The dripping body over TLS: the worker reads through an SSLSocket, which detached the socket the
    connection made (so the deadline must shut the connection, not that socket object)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key, cert = self_signed_cert(tmp_path)
    context.load_cert_chain(cert, key)

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        try:
            conn.settimeout(SLACK_S)
            tls = context.wrap_socket(conn, server_side=True)
            tls.settimeout(None)
        except OSError:
            conn.close()
            return
        _drip(tls, stop)

    yield from (url.replace("http://", "https://") for url in _serve(handler))


def _api_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("airflow-api ") and t.is_alive()}


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
@pytest.mark.parametrize("server", ["dripping", "dripping_headers", "token_then_drip", "tls_dripping"])
def test_no_worker_thread_outlives_the_deadline(server: str, request: pytest.FixtureRequest) -> None:
    """The deadline shuts the request's sockets: its worker thread ends, it is not left waiting on the
    server (a body dripped, headers dripped, a kept-alive connection reused after the token, or a body
    dripped over TLS).

    Behaviour only, no tight timing: the call returns within the deadline plus a loose slack, and the
    worker threads it started have ended after a bounded join. Unbounded, each of these servers would
    hold the thread for hours, so the join's bound tells an ended thread from an abandoned one however
    loaded the machine is.
    """
    url = request.getfixturevalue(server)
    before = _api_threads()
    api = AirflowApi(url, username="u", password="p", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(ApiUnreachableError, match="within 1s"):
        if server == "token_then_drip":
            api.get("/api/v2/dags")  # the token request, then the dripping one on the same connection
        elif server == "tls_dripping":
            api.get("/api/v2/monitor/health", auth=False, verify=False)  # self-signed
        else:
            api.health()
    # Two requests at most (token, then the call), each its deadline and the wind-down.
    assert time.monotonic() - started < 2 * (1.0 + WIND_DOWN_S) + SLACK_S
    until = time.monotonic() + SLACK_S
    for thread in _api_threads() - before:
        thread.join(max(until - time.monotonic(), 0.0))
    assert sorted(t.name for t in _api_threads() - before) == []


def test_a_socket_watched_after_the_cancel_is_shut_at_once() -> None:
    """The race the lock closes: the deadline passes before the worker has its socket (connecting, or
    between the pool and the request). The socket is shut as it is watched; its read ends at once."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        inflight = _Inflight()
        inflight.cancel()
        inflight.watch(ours)
        ours.settimeout(SLACK_S)  # a fallback only: the shut socket answers at once
        assert ours.recv(1) == b""
        inflight.release()


def test_a_read_blocked_on_a_watched_socket_ends_at_the_cancel() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        inflight = _Inflight()
        inflight.watch(ours)
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(ours.recv(1)), daemon=True)
        reader.start()
        inflight.cancel()  # whether the reader is already blocked in recv or not yet: the socket is shut
        reader.join(SLACK_S)
        assert not reader.is_alive()
        assert got == [b""]
        inflight.release()


def test_release_closes_the_duplicates_not_the_connection() -> None:
    """The worker's release closes only the duplicate descriptors: a kept-alive connection stays usable."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        inflight = _Inflight()
        inflight.watch(ours)
        inflight.release()
        inflight.cancel()  # after the release: nothing of this request is left to shut
        theirs.sendall(b"x")
        ours.settimeout(SLACK_S)
        assert ours.recv(1) == b"x"


#: One clock reading for the heartbeat and the check: a test reading the clock twice would grade a
#: heartbeat "a second ahead" as a second old, or older, on a machine that paused it in between.
_NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _body(offset_s: float) -> dict[str, object]:
    ts = (_NOW + dt.timedelta(seconds=offset_s)).isoformat()
    return {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": ts}}


@pytest.mark.parametrize("ahead", [30.0, 3600.0, 86400.0 * 365])
def test_a_heartbeat_from_the_future_is_critical_and_names_the_skew(ahead: float) -> None:
    [result] = check_components(_body(ahead), ["scheduler"], HealthThresholds(), _NOW)
    assert result.verdict == Verdict.CRITICAL
    assert "in the future" in result.detail and "clocks" in result.detail


def test_a_heartbeat_a_second_ahead_is_ordinary_skew() -> None:
    [result] = check_components(_body(1.0), ["scheduler"], HealthThresholds(), _NOW)
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
