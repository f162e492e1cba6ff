"""HTTP/1.1 plumbing shared by the sandboxes: a threading server, a thread runner and a signal-aware runner.

Speed matters (benchmarks page through a million records), so each response is written with a single
`send` (status line, headers and body together, TCP_NODELAY on): no Nagle / delayed-ACK stalls on keep-alive
connections. `stop()` also closes idle keep-alive connections, so a stopped sandbox really stops answering.
"""

from __future__ import annotations

import contextlib
import email.utils
import http
import os
import signal
import socket
import socketserver
import sys
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ponte.sandbox.server import SandboxApp

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        response = self.server.app.handle(self.command, self.path, self.headers, body, self.client_address[0])
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload, content_type = response.encode()
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            "Server: nginx",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}",
            "Connection: close" if self.close_connection else "Connection: keep-alive",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr line; the app keeps its own request log."""


class SandboxHTTPServer(ThreadingHTTPServer):
    """One thread per connection; remembers open connections so `close_connections` can end them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse-DNS lookup of the host (slow or hanging on some machines)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response are normal (timeouts, retries): no traceback on stderr for them."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones included)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RunningSandbox:
    """A sandbox serving in a background thread; the helpers talk to the app in-process (no HTTP)."""

    def __init__(self, app: SandboxApp, server: SandboxHTTPServer, thread: threading.Thread) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self._stopped = False

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:8765 (admin endpoints live under /_sandbox/)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. http://127.0.0.1:8765/demo/public/api/v1 for Sienge."""
        return self.url + self.app.base_path

    def stop(self) -> None:
        """Stop serving and close every connection; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.app.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self) -> list[dict[str, Any]]:
        """The request log (see `SandboxApp.requests`)."""
        return self.app.requests()

    def reset_log(self) -> dict[str, Any]:
        """Clear the request log and the stats counters."""
        return self.app.reset_log()

    def reset_limits(self) -> dict[str, Any]:
        """Forget the rate window and the day's quota usage."""
        return self.app.reset_limits()

    def configure(self, **switches: Any) -> dict[str, Any]:
        """Change switches (faults, limits, API options) at runtime."""
        return self.app.configure(**switches)

    def stats(self) -> dict[str, Any]:
        """Request counters (see `SandboxApp.stats`)."""
        return self.app.stats()


def run_in_thread(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Start serving `app` on (host, port) in a daemon thread; port 0 picks a free port."""
    server = SandboxHTTPServer((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{app.name}", daemon=True
    )
    thread.start()
    return RunningSandbox(app, server, thread)


def write_port_file(path: str | os.PathLike[str], port: int) -> None:
    """Write the bound port atomically (temp file + rename), so a reader never sees a partial number."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{port}\n")
    os.replace(temp, target)


def serve_until_signal(
    app: SandboxApp,
    host: str,
    port: int,
    port_file: str | os.PathLike[str] | None = None,
    announce: Callable[[RunningSandbox], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly (for `python -m ponte.sandbox` and the CLI)."""
    running = run_in_thread(app, host, port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if port_file:
            write_port_file(port_file, running.port)
        if announce:
            announce(running)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        running.stop()
        if port_file:
            Path(port_file).unlink(missing_ok=True)
