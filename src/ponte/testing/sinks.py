"""Local alert sinks for tests: an SMTP server and an HTTP endpoint on free loopback ports that keep what they get.

    with SmtpSink() as smtp, HttpSink(fail_first=1) as hook:
        alerter = Alerter(AlertSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, webhook_url=hook.url, ...))
        alerter.send(alert)
        (mail,) = smtp.wait_for(1)
        first, second = hook.wait_for(2)   # the first got a 500, the retry a 200

Both serve from a thread of the test process; `wait_for` blocks on a condition until enough has arrived (no
sleeps) and raises TimeoutError naming what did arrive.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

from ponte.core.closable import Closable

T = TypeVar("T")


class _Collected(Generic[T]):
    """A list that threads append to and a test waits on."""

    what = "items"

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def _collect(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def _snapshot(self) -> list[T]:
        with self._changed:
            return list(self._items)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[T]:
        """Block until at least `n` have arrived; return all of them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) >= n, timeout):
                raise TimeoutError(f"expected {n} {self.what} within {timeout:g} s, got {len(self._items)}")
            return list(self._items)


class _Served(Closable):
    """Runs a socketserver in a daemon thread; context manager."""

    server: socketserver.BaseServer

    def _start(self, server: socketserver.TCPServer) -> None:
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


# -- SMTP ---------------------------------------------------------------------------------------------


@dataclass
class ReceivedEmail:
    """One message an SMTP client delivered, with its envelope."""

    mail_from: str
    rcpt_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",)) or self.message
        return part.get_content()


def _address(argument: str) -> str:
    """`FROM:<a@b> SIZE=10` → `a@b`."""
    value = argument.split(":", 1)[1].strip() if ":" in argument else argument
    value = value.split(" ", 1)[0]
    return value.strip("<>")


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: _SmtpServer

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 127.0.0.1 ponte test SMTP ready")
        mail_from: str | None = None
        rcpt_to: list[str] = []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self._reply("250-127.0.0.1 hello")
                self._reply("250-8BITMIME")
                self._reply("250 AUTH PLAIN")
            elif verb == "HELO":
                self._reply("250 127.0.0.1 hello")
            elif verb == "AUTH":
                mechanism, _, initial = argument.partition(" ")
                if mechanism.upper() != "PLAIN":
                    self._reply("504 5.5.4 only AUTH PLAIN")
                    continue
                if not initial:
                    self._reply("334 ")
                    initial = self.rfile.readline(65536).decode("ascii", "replace").strip()
                _, user, password = base64.b64decode(initial).decode("utf-8", "replace").split("\0", 2)
                self.server.sink.logins.append((user, password))
                self._reply("235 2.7.0 authenticated")
            elif verb == "MAIL":
                mail_from, rcpt_to = _address(argument), []
                self._reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if mail_from is None:
                    self._reply("503 5.5.1 MAIL first")
                    continue
                rcpt_to.append(_address(argument))
                self._reply("250 2.1.5 ok")
            elif verb == "DATA":
                if mail_from is None or not rcpt_to:
                    self._reply("503 5.5.1 MAIL and RCPT first")
                    continue
                self._reply("354 end with <CRLF>.<CRLF>")
                data = self._read_data()
                if data is None:
                    return
                message = email.message_from_bytes(data, policy=email.policy.default)
                self.server.sink._collect(ReceivedEmail(mail_from, rcpt_to, message))
                mail_from, rcpt_to = None, []
                self._reply("250 2.0.0 queued")
            elif verb == "RSET":
                mail_from, rcpt_to = None, []
                self._reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self._reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self._reply("221 2.0.0 bye")
                return
            else:
                self._reply(f"502 5.5.2 {verb or 'empty'} not implemented")

    def _read_data(self) -> bytes | None:
        lines = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw:
                return None
            if raw.rstrip(b"\r\n") == b".":
                return b"".join(lines)
            raw = raw[1:] if raw.startswith(b"..") else raw
            lines.append(raw.rstrip(b"\r\n") + b"\n")  # the parsed message uses \n line ends, as Python does


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _SmtpHandler)


class SmtpSink(_Collected[ReceivedEmail], _Served):
    """A tiny SMTP server (HELO/EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS) on 127.0.0.1."""

    what = "emails"

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[tuple[str, str]] = []
        self._start(_SmtpServer(self))

    @property
    def messages(self) -> list[ReceivedEmail]:
        return self._snapshot()


# -- HTTP ---------------------------------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    """One POST the sink answered, and the status it answered with."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    json: Any = field(default=None)


class _HttpHandler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        status = self.server.sink._next_status()
        self.server.sink._collect(ReceivedRequest(self.path, dict(self.headers.items()), body, status, payload))
        answer = b'{"ok": true}' if status < 400 else b'{"error": "failing on purpose"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, sink: HttpSink) -> None:
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _HttpHandler)


class HttpSink(_Collected[ReceivedRequest], _Served):
    """An HTTP endpoint on 127.0.0.1 that keeps every POST; the first `fail_first` get `fail_status` (500)."""

    what = "requests"

    def __init__(self, fail_first: int = 0, fail_status: int = 500, path: str = "/hook") -> None:
        super().__init__()
        self._failures_left = fail_first
        self.fail_status = fail_status
        self._path = path
        self._start(_HttpServer(self))

    def _next_status(self) -> int:
        with self._changed:
            if self._failures_left > 0:
                self._failures_left -= 1
                return self.fail_status
            return 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._path}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self._snapshot()
