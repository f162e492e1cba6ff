"""Run the service on uvicorn: prepare (fail fast), listen, and on SIGTERM/SIGINT stop taking work, drain the
runs in progress (PONTE_SERVE_DRAIN_SECONDS) and exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import uvicorn

from ponte.http.redaction import Redactor
from ponte.service.app import Service, create_app
from ponte.service.settings import ServeSettings

GRACEFUL_HTTP_SECONDS = 5.0  # open requests (log streams) get this long before they are closed


class _Server(uvicorn.Server):
    """uvicorn's server, telling where it listens once it does (port 0 picks a free one), refusing new runs
    from the moment a stop signal arrives, and exiting normally after the drain (uvicorn would re-raise the
    signal, ending the process with -15 instead of 0)."""

    def __init__(self, config: uvicorn.Config, service: Service, on_listening: Callable[[str], None]) -> None:
        super().__init__(config)
        self.service = service
        self.on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service.draining = True
        if hasattr(self.service, "runs"):
            self.service.runs.accepting = False
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_listening(f"http://{'[' + host + ']' if ':' in host else host}:{port}")


def configure_logging(settings: ServeSettings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s %(message)s", stream=sys.stderr
    )
    Redactor(settings.secrets()).install(logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error"))


def server(service: Service, on_listening: Callable[[str], None]) -> uvicorn.Server:
    """A uvicorn server of a prepared service (tests run it in a thread; `serve` runs it in the main one)."""
    config = uvicorn.Config(
        create_app(service), host=service.settings.host, port=service.settings.port, lifespan="on",
        log_level="warning", access_log=False, timeout_graceful_shutdown=GRACEFUL_HTTP_SECONDS,
    )  # fmt: skip
    return _Server(config, service, on_listening)


def serve(settings: ServeSettings, port_file: Path | None = None, announce: Callable[[str], None] | None = None) -> int:
    """Prepare, listen until SIGTERM/SIGINT, drain; 0 on a clean stop."""
    configure_logging(settings)
    service = Service(settings)
    asyncio.run(service.prepare())
    log = logging.getLogger("ponte.service")

    def listening(url: str) -> None:
        log.info("listening on %s (schedules: %d, webhooks: %s)", url, len(service.scheduler.schedules),
                 "on" if service.webhooks else "not installed")  # fmt: skip
        if announce:
            announce(url)
        if port_file:
            port_file.write_text(url.rsplit(":", 1)[1])

    uv = server(service, listening)
    uv.run()
    return 0 if uv.started else 1
