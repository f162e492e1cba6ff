"""OAuth2 grants against a real local token endpoint: which grant is sent, and refresh-token rotation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests

from ponte.auth.oauth2 import OAuth2Auth
from ponte.declaration.models import OAuth2Config


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A token endpoint that logs each form and issues access token N with refresh token rN."""
    forms: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            forms.append({k: v[0] for k, v in parse_qs(body).items()})
            payload = json.dumps(
                {"access_token": f"t{len(forms)}", "refresh_token": f"r{len(forms) + 1}", "expires_in": 3600}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/token", forms
    server.shutdown()


def bearer_of(auth: OAuth2Auth) -> str:
    request = requests.Request("GET", "http://example.invalid/x").prepare()
    auth.apply(request)
    return request.headers["Authorization"]


def test_authorization_code_exchanges_the_configured_refresh_token_and_keeps_the_rotated_one(token_endpoint) -> None:
    url, forms = token_endpoint
    auth = OAuth2Auth(
        OAuth2Config(
            token_url=url, grant_type="authorization_code", client_id="c", client_secret="s", refresh_token="r1"
        )
    )
    assert bearer_of(auth) == "Bearer t1"
    assert forms[0]["grant_type"] == "refresh_token"
    assert forms[0]["refresh_token"] == "r1"
    assert auth.on_unauthorized()  # the server rejected the token: fetch a new one with the rotated refresh token
    assert bearer_of(auth) == "Bearer t2"
    assert forms[1] == {**forms[1], "grant_type": "refresh_token", "refresh_token": "r2"}


def test_client_credentials_sends_that_grant(token_endpoint) -> None:
    url, forms = token_endpoint
    auth = OAuth2Auth(OAuth2Config(token_url=url, grant_type="client_credentials", client_id="c", client_secret="s"))
    assert bearer_of(auth) == "Bearer t1"
    assert forms[0]["grant_type"] == "client_credentials"
