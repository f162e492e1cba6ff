"""A TCP proxy in front of PostgreSQL that cuts connections on cue, to test what a client does when they drop.

It reads the frontend/backend protocol framing (not its content, except statement text), so a test can cut a
connection at an exact point — "when this connection sends the COMMIT after the 3rd COPY", or "after the
server has answered that COMMIT but before the client sees the answer" — with no sleeps and no server
restart. Clients must not ask for TLS or GSS encryption (`sslmode=disable gssencmode=disable`): the proxy
has to read the messages.

    with PgProxy.to("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as proxy:
        proxy.decide = lambda conn, kind, text: "cut" if text.startswith("COMMIT") else None
        psycopg.connect(proxy.conninfo)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Literal

from psycopg.conninfo import conninfo_to_dict, make_conninfo

Action = Literal["cut", "cut_after_reply", "cut_all", "cut_all_after_reply"]
Decide = Callable[[int, str, str], "Action | None"]
"""(connection number, message kind: "query" | "parse" | "copy_data", statement text or "") → what to do."""

_ENCRYPTION_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest


class _Link:
    """One client connection and its server connection, pumped by two threads."""

    def __init__(self, proxy: PgProxy, number: int, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.number, self.client, self.server = proxy, number, client, server
        self.hold_replies = False  # set before forwarding a message whose reply must not reach the client
        self.cut_all_on_reply = False
        self.closed = threading.Event()

    def close(self) -> None:
        """Drop both sides at once, as a crashed server or a broken network would."""
        self.closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def pump_client(self) -> None:
        buffer = b""
        started = False
        try:
            while not self.closed.is_set():
                chunk = self.client.recv(1 << 16)
                if not chunk:
                    break
                buffer += chunk
                out = b""
                while True:
                    if not started:
                        if len(buffer) < 8:
                            break
                        length, code = struct.unpack("!ii", buffer[:8])
                        if code in _ENCRYPTION_REQUESTS:
                            raise RuntimeError(
                                "PgProxy cannot read encrypted traffic: use sslmode=disable gssencmode=disable"
                            )
                        if len(buffer) < length:
                            break
                        out, buffer, started = out + buffer[:length], buffer[length:], True
                        continue
                    if len(buffer) < 5:
                        break
                    kind, length = buffer[:1], struct.unpack("!i", buffer[1:5])[0]
                    if len(buffer) < 1 + length:
                        break
                    message, buffer = buffer[: 1 + length], buffer[1 + length :]
                    action = self._decide(kind, message[5:])
                    if action in ("cut", "cut_all"):
                        self.server.sendall(out)
                        self.proxy.cut(self if action == "cut" else None)
                        return
                    if action in ("cut_after_reply", "cut_all_after_reply"):
                        self.server.sendall(out)
                        out = b""
                        self.cut_all_on_reply = action == "cut_all_after_reply"
                        self.hold_replies = True  # before the server can possibly answer
                    out += message
                if out:
                    self.server.sendall(out)
        except OSError:
            pass
        finally:
            self.close()

    def _decide(self, kind: bytes, payload: bytes) -> Action | None:
        with self.proxy.deciding:  # one message at a time, so `decide` may keep counts without a lock
            return self._ask(kind, payload)

    def _ask(self, kind: bytes, payload: bytes) -> Action | None:
        decide = self.proxy.decide
        if decide is None:
            return None
        if kind == b"Q":
            return decide(self.number, "query", payload.split(b"\0", 1)[0].decode("utf-8", "replace"))
        if kind == b"P":
            _name, _, rest = payload.partition(b"\0")
            return decide(self.number, "parse", rest.split(b"\0", 1)[0].decode("utf-8", "replace"))
        if kind == b"d":
            return decide(self.number, "copy_data", "")
        return None

    def pump_server(self) -> None:
        buffer = b""
        try:
            while not self.closed.is_set():
                chunk = self.server.recv(1 << 16)
                if not chunk:
                    break
                if not self.hold_replies:
                    self.client.sendall(chunk)
                    continue
                # Held: swallow the reply up to its ReadyForQuery, then drop the connection(s).
                buffer += chunk
                while len(buffer) >= 5:
                    kind, length = buffer[:1], struct.unpack("!i", buffer[1:5])[0]
                    if len(buffer) < 1 + length:
                        break
                    buffer = buffer[1 + length :]
                    if kind == b"Z":
                        self.proxy.cut(None if self.cut_all_on_reply else self)
                        return
        except OSError:
            pass
        finally:
            self.close()


class PgProxy:
    """Listens on a free loopback port and forwards every connection to `host:port`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432, conninfo: str = "") -> None:
        self.target = (host, port)
        self.conninfo = make_conninfo(conninfo, host="127.0.0.1", port=0, sslmode="disable", gssencmode="disable")
        """`conninfo` pointed at the proxy, encryption off so the proxy can read the messages."""
        self.decide: Decide | None = None
        """Called for every statement and COPY data message a client sends; its answer cuts connections."""
        self.refuse_connections = False
        """While True, new connections are accepted and closed at once (a server that is down)."""
        self.connections = 0
        self.cuts = 0
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self.deciding = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.conninfo = make_conninfo(self.conninfo, port=self.port)
        self._thread = threading.Thread(target=self._accept, name="pg-proxy", daemon=True)

    @classmethod
    def to(cls, conninfo: str) -> PgProxy:
        """A proxy in front of the server `conninfo` names (a TCP host; default 127.0.0.1:5432)."""
        params = conninfo_to_dict(conninfo)
        host = str(params.get("host") or "127.0.0.1")
        if host.startswith("/"):
            raise ValueError("PgProxy forwards to a TCP host, not a Unix socket")
        return cls(host, int(params.get("port") or 5432), conninfo)

    def __enter__(self) -> PgProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._listener.close()
        self.cut(None)

    def cut(self, link: _Link | None) -> None:
        """Drop one connection, or every open one (None): a killed backend, or a server restart."""
        with self._lock:
            links = [link] if link is not None else list(self._links)
            self.cuts += 1
        for one in links:
            one.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse_connections:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                link = _Link(self, self.connections, client, server)
                self._links = [one for one in self._links if not one.closed.is_set()] + [link]
            threading.Thread(target=link.pump_client, daemon=True).start()
            threading.Thread(target=link.pump_server, daemon=True).start()
