"""The user-consent step of the authorization_code grant: authorize URL, local callback listener, pasted codes.

`ponte auth <source>` prints the authorize URL, then waits for the browser to come back to the app's
registered redirect URL (`http://127.0.0.1:8977/callback` by default) with `?code=..&state=..`. When that
address cannot be served here (another host, https, port taken), the user pastes the code or the whole URL.
"""

from __future__ import annotations

import html
import queue
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from ponte.core.errors import AuthError
from ponte.declaration.models import OAuth2Config

DEFAULT_REDIRECT_URI = OAuth2Config.redirect_uri  # stated once, in the model
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class CannotListen(Exception):
    """The redirect URL cannot be served by a listener on this machine (the reason is the message)."""


def new_state() -> str:
    """A random 32-hex `state`, checked on the way back (CSRF)."""
    return secrets.token_hex(16)


def authorize_url(base: str, client_id: str, state: str) -> str:
    """`<base>?response_type=code&client_id=<id>&state=<state>` (redirect_uri and scope: the app's registered ones)."""
    query = urlencode({"response_type": "code", "client_id": client_id, "state": state})
    return f"{base}{'&' if '?' in base else '?'}{query}"


def _first(params: dict[str, list[str]], name: str) -> str:
    return (params.get(name) or [""])[0].strip()


def read_redirect(query: str, state: str) -> str | None:
    """The code in a redirect's query string; AuthError for an `error=` redirect; None for a foreign state."""
    params = parse_qs(query, keep_blank_values=True)
    got_state = _first(params, "state")
    if got_state and got_state != state:
        return None
    error = _first(params, "error")
    if error:
        description = " ".join(_first(params, "error_description").split())[:300]
        raise AuthError(
            f"the authorization was not granted: {error}"
            + (f" ({description})" if description else "")
            + "; check the app (active, scopes, redirect URL) and run `ponte auth` again"
        )
    if not got_state:
        return None
    return _first(params, "code") or None


def parse_pasted(text: str, state: str) -> str | None:
    """A pasted code, or the code of a pasted redirect URL (its state must match); None if unusable."""
    text = text.strip()
    if not text:
        return None
    if "code=" in text or "error=" in text:
        return read_redirect(urlsplit(text).query or text.lstrip("?"), state)
    return text


class CallbackListener:
    """A one-shot HTTP server on the host, port and path of the redirect URL."""

    def __init__(self, redirect_uri: str, state: str, notice: Callable[[str], None] = print) -> None:
        parts = urlsplit(redirect_uri)
        self.redirect_uri = redirect_uri
        self.state = state
        self.notice = notice
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path or "/"
        self.results: queue.Queue[tuple[str, str]] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Bind and serve in a thread; CannotListen when this machine cannot answer the redirect URL."""
        if self.scheme != "http":
            raise CannotListen(f"the redirect URL is {self.scheme}, and `ponte auth` only serves plain http locally")
        if self.host not in _LOOPBACK:
            raise CannotListen(f"the redirect URL points at {self.host}, not this machine")
        bind = "::1" if self.host == "::1" else "127.0.0.1"
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") != listener.path.rstrip("/"):
                    self._page(404, "Not found", "This is the ponte authorization callback; nothing here.")
                    return
                try:
                    code = read_redirect(parts.query, listener.state)
                except AuthError as exc:
                    self._page(200, "Authorization failed", str(exc) + ". You can close this tab.")
                    listener.results.put(("error", str(exc)))
                    return
                if code is None:
                    self._page(
                        400,
                        "Unexpected callback",
                        "This answer does not belong to the running `ponte auth` (missing code or a different "
                        "state, e.g. an older tab). Use the URL it printed last.",
                    )
                    listener.notice("ignored a callback without a code or with another state (an older authorize URL?)")
                    return
                self._page(
                    200,
                    "Authorization received",
                    "ponte got the code. You can close this tab and go back to the terminal.",
                )
                listener.results.put(("code", code))

            def _page(self, status: int, title: str, text: str) -> None:
                body = (
                    f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                    f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server_class = ThreadingHTTPServer
        if bind == "::1":
            import socket

            class V6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6

            server_class = V6Server
        try:
            self._server = server_class((bind, self.port), Handler)
        except OSError as exc:
            raise CannotListen(f"port {self.port} on {bind} is not available ({exc.strerror or exc})") from None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="ponte-auth-callback", daemon=True).start()

    def wait(self, timeout: float) -> tuple[str, str]:
        """The next ("code", code) or ("error", message); queue.Empty after timeout seconds."""
        return self.results.get(timeout=timeout)

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
