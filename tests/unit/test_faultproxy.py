"""The fault proxy's own checks (tests/faultproxy.py) against a stdlib HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.faultproxy import FaultProxy, Rule, s3_operation


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list[bytes] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Echo.bodies.append(body)
        out = f"{self.command} {self.path} {len(body)}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Echo.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _put(conn: http.client.HTTPConnection, path: str, body: bytes, attempt: int = 1) -> tuple[int, bytes]:
    conn.request("PUT", path, body=body, headers={"amz-sdk-request": f"attempt={attempt}; max=8"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_slowdown_bursts_answer_s3_xml_then_forward_on_the_same_connection(upstream: str) -> None:
    with FaultProxy.to(upstream, Rule("slowdown", ops={"UploadPart"}, burst=2)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        path = "/b/k?partNumber=1&uploadId=u"
        status, body = _put(conn, path, b"x" * 1000)
        assert status == 503 and b"<Code>SlowDown</Code>" in body
        assert _put(conn, path, b"x" * 1000, attempt=2)[0] == 503
        assert _put(conn, path, b"x" * 1000, attempt=3) == (200, f"PUT {path} 1000".encode())
        assert _put(conn, "/b/k", b"y")[0] == 200  # PutObject: not matched
        conn.close()
        assert proxy.faults() == {("slowdown", "UploadPart"): 2}
        assert proxy.requests() == 4 and proxy.retries() == 2 and proxy.retries("UploadPart") == 2
        assert _Echo.bodies == [b"x" * 1000, b"y"]  # the refused attempts never reached the server
        assert "faults injected: slowdown 2; retries seen: 2 (UploadPart 2)" in proxy.summary()


def test_reset_cuts_the_body_and_the_server_never_sees_the_request(upstream: str) -> None:
    with FaultProxy.to(upstream, Rule("reset", ops={"UploadPart"})) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            _put(conn, "/b/k?partNumber=1&uploadId=u", b"z" * (4 << 20))
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        assert _put(conn, "/b/k?partNumber=1&uploadId=u", b"z" * 10, attempt=2)[0] == 200
        conn.close()
        assert proxy.faults() == {("reset", "UploadPart"): 1}
        assert _Echo.bodies == [b"z" * 10]


def test_drop_lets_the_request_take_effect_but_loses_the_answer(upstream: str) -> None:
    with FaultProxy.to(upstream, Rule("drop", ops={"CompleteMultipartUpload"})) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("POST", "/b/k?uploadId=u", body=b"<done/>")
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            conn.getresponse().read()
        conn.close()
        assert _Echo.bodies == [b"<done/>"]  # the server got it
        assert proxy.faults() == {("drop", "CompleteMultipartUpload"): 1}


def test_latency_delays_matching_requests(upstream: str) -> None:
    with FaultProxy.to(upstream, Rule("latency", ops={"HeadObject"}, burst=1, every=1, delay_s=0.3)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        started = time.monotonic()
        conn.request("HEAD", "/b/k")
        assert conn.getresponse().status == 200
        assert time.monotonic() - started >= 0.3
        conn.close()
        assert proxy.faults() == {("latency", "HeadObject"): 1}


def test_bursts_repeat_every_n_matching_requests_up_to_the_limit() -> None:
    rule = Rule("slowdown", first=2, burst=2, every=5, limit=3)
    assert [rule.hit("X") for _ in range(12)] == [
        False, True, True, False, False, False, True, False, False, False, False, False,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "target", "op"),
    [
        ("PUT", "/b/k?partNumber=3&uploadId=u", "UploadPart"),
        ("POST", "/b/k?uploads", "CreateMultipartUpload"),
        ("POST", "/b/k?uploadId=u", "CompleteMultipartUpload"),
        ("DELETE", "/b/k?uploadId=u", "AbortMultipartUpload"),
        ("GET", "/b?uploads&prefix=k", "ListMultipartUploads"),
        ("GET", "/b?list-type=2&prefix=p", "ListObjectsV2"),
        ("POST", "/b?delete", "DeleteObjects"),
        ("HEAD", "/b", "HeadBucket"),
        ("HEAD", "/b/k", "HeadObject"),
        ("PUT", "/b/k", "PutObject"),
        ("GET", "/b/k", "GetObject"),
    ],
)
def test_operations_are_named_like_s3_names_them(method: str, target: str, op: str) -> None:
    assert s3_operation(method, target, {}) == op


def test_a_bad_rule_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'lose'"):
        Rule("lose")
    with pytest.raises(ValueError, match="every 0 or >= burst"):
        Rule("reset", burst=3, every=2)
