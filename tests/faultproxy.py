"""A fault-injecting HTTP proxy for S3 tests, on 127.0.0.1 between a client and a real S3 server.

Standard library only, one thread per client connection. Every request is read in full (its
``Expect: 100-continue`` answered by the proxy), classified as an S3 operation (``UploadPart``,
``PutObject``, ``HeadBucket``...), matched against the :class:`Rule` list and then either

- answered ``503 SlowDown`` with S3's XML error body (``slowdown``), never reaching the server;
- cut off: the proxy reads about half of the request body, then resets the connection (TCP RST,
  ``SO_LINGER`` 0) in the middle of it (``reset``), so the server never sees the request;
- delayed by ``delay_s`` before it is forwarded (``latency``);
- forwarded, and the connection reset instead of relaying the server's answer (``drop``): the
  request took effect but the client cannot know, as when a load balancer dies mid-answer;
- forwarded unchanged to the upstream server (a fresh connection per request), its answer
  relayed back.

The proxy counts requests per operation and the faults it injected, and reads botocore's
``amz-sdk-request: attempt=N`` header, so ``retries`` is the number of retries the clients made,
whatever process they run in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

SLOWDOWN_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<Resource>{resource}</Resource><RequestId>{request_id}</RequestId><HostId>faultproxy</HostId></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "expect", "te", "upgrade"}


def s3_operation(method: str, target: str, headers: dict[str, str]) -> str:
    """The S3 operation a path-style request is (``UploadPart``, ``ListObjectsV2``...)."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    path = parts.path.lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket:
        return "ListBuckets"
    if not key:
        if method == "HEAD":
            return "HeadBucket"
        if method == "GET":
            if "uploads" in query:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method}Bucket")
    upload = "uploadId" in query
    if method == "PUT":
        if upload and "partNumber" in query:
            return "UploadPart"
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        return "CompleteMultipartUpload" if upload else f"POST{'?' + parts.query if parts.query else ''}"
    if method == "DELETE":
        return "AbortMultipartUpload" if upload else "DeleteObject"
    if method == "GET":
        return "ListParts" if upload else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    return method


@dataclass
class Rule:
    """Which requests get a fault: the matching requests (``ops``, empty = all) are numbered from 1,
    retries included; bursts of ``burst`` consecutive ones are hit, the first starting at ``first``,
    a new one every ``every`` (0: a single burst), ``limit`` faults at most (0: no limit)."""

    kind: str  # "slowdown" | "reset" | "drop" | "latency"
    ops: Collection[str] = ()
    first: int = 1
    burst: int = 1
    every: int = 0
    limit: int = 0
    delay_s: float = 0.0
    matched: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("slowdown", "reset", "drop", "latency"):
            raise ValueError(f"unknown fault kind {self.kind!r}: slowdown, reset, drop or latency")
        if self.first < 1 or self.burst < 1 or self.every < 0 or (self.every and self.every < self.burst):
            raise ValueError(f"rule {self.kind}: need first >= 1, burst >= 1, every 0 or >= burst")

    def hit(self, op: str) -> bool:
        """Count one matching request; whether this one gets the fault."""
        if self.ops and op not in self.ops:
            return False
        self.matched += 1
        n = self.matched - self.first
        if n < 0 or (self.limit and self.injected >= self.limit):
            return False
        if self.every:
            n %= self.every
        if n >= self.burst:
            return False
        self.injected += 1
        return True


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it."""

    op: str
    method: str
    target: str
    attempt: int
    invocation: str
    fault: str  # "", "slowdown", "reset", "drop"; latency is counted separately
    delayed_s: float
    status: int  # what the client got (0: reset)


@dataclass
class FaultProxy:
    upstream_host: str
    upstream_port: int
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _in_flight: int = 0
    _server: socketserver.ThreadingTCPServer | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def to(cls, endpoint_url: str, *rules: Rule) -> FaultProxy:
        parts = urlsplit(endpoint_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream {endpoint_url!r}: an http://host:port endpoint is needed")
        return cls(parts.hostname, parts.port, list(rules))

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_rules(self, *rules: Rule) -> None:
        with self._lock:
            self.rules = list(rules)

    # -- figures --------------------------------------------------------------------------------
    # A client may act on an answer before the proxy thread has recorded it: the figures wait (a
    # little) for every request being handled to be recorded.
    def _settled(self) -> None:
        self._lock.wait_for(lambda: self._in_flight == 0, timeout=10)

    def requests(self, op: str | None = None) -> int:
        with self._lock:
            self._settled()
            return sum(1 for s in self.seen if op is None or s.op == op)

    def faults(self) -> Counter[tuple[str, str]]:
        """(kind, operation) -> faults injected; latency counted as ``latency``."""
        with self._lock:
            self._settled()
            out: Counter[tuple[str, str]] = Counter((s.fault, s.op) for s in self.seen if s.fault)
            out.update(("latency", s.op) for s in self.seen if s.delayed_s > 0)
            return out

    def retries(self, op: str | None = None) -> int:
        """Requests the clients sent as a retry (botocore's ``attempt`` > 1)."""
        with self._lock:
            self._settled()
            return sum(1 for s in self.seen if s.attempt > 1 and (op is None or s.op == op))

    def summary(self) -> str:
        """One line: requests, faults by kind and retries, with the operations involved."""
        faults = self.faults()
        by_kind: Counter[str] = Counter()
        for (kind, _op), n in faults.items():
            by_kind[kind] += n
        with self._lock:
            self._settled()
            retried = Counter(s.op for s in self.seen if s.attempt > 1)
            total = len(self.seen)
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())) or "none"
        ops = ", ".join(f"{op} {n}" for op, n in sorted(retried.items())) or "none"
        return f"{total} requests; faults injected: {kinds}; retries seen: {sum(retried.values())} ({ops})"

    # -- the proxy ------------------------------------------------------------------------------
    def _decide(self, op: str) -> tuple[str, float]:
        """The faults for this request; it counts as in flight until :meth:`_record`."""
        fault, delay = "", 0.0
        with self._lock:
            self._in_flight += 1
            for rule in self.rules:
                if rule.kind == "latency":
                    if rule.hit(op):
                        delay += rule.delay_s
                elif not fault and rule.hit(op):
                    fault = rule.kind
        return fault, delay

    def _record(self, seen: Seen, status: int) -> bool:
        """Record a handled request (no longer in flight); returns False, for ``pending``."""
        with self._lock:
            self.seen.append(dataclasses.replace(seen, status=status))
            self._in_flight -= 1
            self._lock.notify_all()
        return False

    def _abandon(self) -> None:
        """A request that ended without a record (the client went away mid-request)."""
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def _serve(self, client: socket.socket) -> None:
        rfile = client.makefile("rb")
        pending = False
        try:
            while True:
                head = _read_head(rfile)
                if head is None:
                    return
                method, target, headers = head
                op = s3_operation(method, target, headers)
                attempt, invocation = _attempt(headers)
                fault, delay = self._decide(op)
                pending = True
                seen = Seen(op, method, target, attempt, invocation, fault, delay, 0)
                expects = headers.get("expect", "").lower() == "100-continue"
                if fault == "reset":
                    if expects:
                        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    _read_some(rfile, headers)
                    pending = self._record(seen, 0)
                    _reset(client)
                    return
                if expects:
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = _read_body(rfile, headers)
                if delay:
                    time.sleep(delay)
                if fault == "slowdown":
                    pending = self._record(seen, 503)  # before the answer: the client acts on it at once
                    client.sendall(_slowdown(method, target))
                    continue
                if fault == "drop":
                    status, _ = self._forward(None, method, target, headers, body)
                    pending = self._record(seen, status)
                    _reset(client)
                    return
                status, keep = self._forward(client, method, target, headers, body)
                pending = self._record(seen, status)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, TimeoutError, OSError):
            return
        finally:
            if pending:
                self._abandon()
            with contextlib.suppress(OSError):
                rfile.close()

    def _forward(
        self, client: socket.socket | None, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bool]:
        """Send the request upstream on a fresh connection; relay the answer to ``client`` (``None``:
        read and drop it). Returns (status, keep-alive)."""

        def send(data: bytes) -> None:
            if client is not None:
                client.sendall(data)

        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k not in _HOP_BY_HOP]
        lines.append("Connection: close")
        with socket.create_connection((self.upstream_host, self.upstream_port), timeout=120) as up:
            up.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            ufile = up.makefile("rb")
            status_line = ufile.readline(65537)
            if not status_line:
                raise ConnectionError("upstream closed without an answer")
            status = int(status_line.split()[1])
            resp_headers = _read_headers(ufile)
            out = [status_line.rstrip(b"\r\n").decode("latin-1")]
            out += [f"{k}: {v}" for k, v in resp_headers.items() if k not in _HOP_BY_HOP]
            bodiless = method == "HEAD" or status in (204, 304) or 100 <= status < 200
            chunked = "chunked" in resp_headers.get("transfer-encoding", "").lower()
            length = resp_headers.get("content-length")
            keep = bodiless or chunked or length is not None
            out.append("Connection: keep-alive" if keep else "Connection: close")
            send(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            if bodiless:
                return status, keep
            if chunked:
                send(_read_chunked(ufile))
            elif length is not None:
                left = int(length)
                while left > 0:
                    data = ufile.read(min(left, 1 << 16))
                    if not data:
                        raise ConnectionError("upstream closed mid-body")
                    send(data)
                    left -= len(data)
            else:
                while data := ufile.read(1 << 16):
                    send(data)
            return status, keep


def _read_headers(rfile: IO[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = rfile.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


def _read_head(rfile: IO[bytes]) -> tuple[str, str, dict[str, str]] | None:
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(65537)
    if not line:
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    return method, target, _read_headers(rfile)


def _attempt(headers: dict[str, str]) -> tuple[int, str]:
    attempt = 1
    for item in headers.get("amz-sdk-request", "").split(";"):
        name, _, value = item.strip().partition("=")
        if name == "attempt" and value.isdigit():
            attempt = int(value)
    return attempt, headers.get("amz-sdk-invocation-id", "")


def _read_chunked(rfile: IO[bytes]) -> bytes:
    """A chunked body, raw (framing kept), to pass on as it came."""
    raw = bytearray()
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("peer closed mid chunked body")
        raw += line
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:
                trailer = rfile.readline(65537)
                raw += trailer
                if trailer in (b"\r\n", b"\n", b""):
                    return bytes(raw)
        raw += rfile.read(size + 2)


def _read_body(rfile: IO[bytes], headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(rfile)
    length = int(headers.get("content-length", "0") or 0)
    data = rfile.read(length) if length else b""
    if len(data) != length:
        raise ConnectionError("client closed mid-body")
    return data


def _read_some(rfile: IO[bytes], headers: dict[str, str]) -> None:
    """Read about half of the body (at least one byte of a non-empty one): the reset comes mid-body."""
    length = int(headers.get("content-length", "0") or 0)
    if length:
        rfile.read(max(1, length // 2))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        rfile.readline(65537)


def _reset(client: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a dying load balancer or store does."""
    with contextlib.suppress(OSError):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        client.close()


def _slowdown(method: str, target: str) -> bytes:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        b""
        if method == "HEAD"
        else SLOWDOWN_XML.format(resource=urlsplit(target).path, request_id=request_id).encode()
    )
    head = [
        "HTTP/1.1 503 Slow Down",
        "Content-Type: application/xml",
        f"Content-Length: {len(body)}",
        f"x-amz-request-id: {request_id}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        "Server: faultproxy",
        "Connection: keep-alive",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def proxied_client(proxy: FaultProxy, **config: Any) -> Any:
    """A plain boto3 client through ``proxy`` with the bundle's retry policy (``config`` on top)."""
    import boto3

    from airflow_ops.storage import client_config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=proxy.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=client_config(config or None),
    )
