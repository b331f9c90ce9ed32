#!/usr/bin/env python3
"""A local alert receiver for the compose trial: a webhook (HTTP :8025) and an SMTP server (:1025).

The shipped configs alert through ``ops_alert_webhook`` and ``smtp_default``; in the compose trial
those connections point here (docker/init-secrets.py), so a failed run shows its real alert in
``docker compose logs alert-sink`` and alert channels resolve. Standard library only; it keeps
nothing. In production, point the two connections at your Slack/Teams webhook and SMTP relay.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def say(channel: str, text: str) -> None:
    print(f"ALERT [{channel}] {text}", flush=True)


class Webhook(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # health check
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        try:
            text = str((json.loads(body or b"{}") or {}).get("text", ""))
        except ValueError:
            text = body.decode("utf-8", "replace")
        say("webhook", " ".join(text.split())[:500])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 alert-sink ESMTP")
        while raw := self.rfile.readline():
            cmd = raw.decode("utf-8", "replace").strip().upper()
            if cmd.startswith("EHLO"):
                self.reply("250-alert-sink")
                self.reply("250 8BITMIME")
            elif cmd.startswith(("HELO", "MAIL", "RCPT", "RSET", "NOOP")):
                self.reply("250 OK")
            elif cmd == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                subject = ""
                while (line := self.rfile.readline().decode("utf-8", "replace")) not in ("", ".\r\n", ".\n"):
                    if line.lower().startswith("subject:"):
                        subject = line[8:].strip()
                say("email", subject)
                self.reply("250 OK")
            elif cmd == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


def check() -> int:
    """The health check: the webhook answers on 127.0.0.1 (the image resolves localhost to ::1)."""
    import urllib.request

    try:
        urllib.request.urlopen("http://127.0.0.1:8025/health", timeout=5)
    except OSError as exc:
        print(f"alert-sink: not answering: {exc}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        return check()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    smtp = socketserver.ThreadingTCPServer(("0.0.0.0", 1025), Smtp)  # noqa: S104 - the compose network only
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    print("alert-sink: webhook on :8025/alerts, SMTP on :1025", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8025), Webhook).serve_forever()  # noqa: S104
    return 0


if __name__ == "__main__":
    sys.exit(main())
