"""OAuth2 with a token store against a real local authorization server that behaves like Bling's.

The server rotates the refresh token on every refresh and kills the old one at once; it counts every attempt
to spend a dead refresh token (`reuse`), which must stay 0 however many instances and processes share a store.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from ponte.auth import build_authenticator
from ponte.auth.oauth2 import OAuth2Auth
from ponte.auth.token_store import FileTokenStore, TokenRecord
from ponte.core.errors import AuthError
from ponte.declaration.models import OAuth2Config
from ponte.http.client import HttpClient, HttpSettings, parsed_body
from ponte.http.redaction import Redactor
from ponte.testing.in_process import run_console_script

CLIENT_ID, CLIENT_SECRET = "app-client-id", "app-client-secret-1234"
REPO = Path(__file__).resolve().parents[2]


class FakeBling:
    """Token endpoint, authorize endpoint and one API resource; thread-safe counters for the assertions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live_refresh: set[str] = set()
        self.live_access: set[str] = set()
        self.codes: set[str] = set()
        self.issued: list[str] = []  # every token value handed out
        self.refreshes = 0
        self.reuse = 0
        self.exchanges = 0
        self.token_forms: list[dict[str, str]] = []
        self.token_headers: list[dict[str, str]] = []
        self.call_times: list[float] = []
        self.clock: Any = None  # when set, token calls are timestamped with it
        self.expires_in = 21600
        self.block = False
        self.authorize_error: str | None = None
        self.redirect_uri = ""
        self.url = ""

    def pair(self) -> dict[str, Any]:
        access, refresh = f"AT-{secrets.token_hex(12)}", f"RT-{secrets.token_hex(12)}"
        self.live_access.add(access)
        self.live_refresh.add(refresh)
        self.issued += [access, refresh]
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": "98309 318257570",
        }

    def seed(self, store: FileTokenStore, key: str, *, expired: bool = True) -> TokenRecord:
        """Tokens as `ponte auth` would have left them."""
        with self.lock:
            body = self.pair()
        record = TokenRecord(body["access_token"], body["refresh_token"], 0.0 if expired else 4e9, body["scope"])
        store.save(key, record)
        return record

    def token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_forms.append(form)
            self.token_headers.append(headers)
            self.call_times.append(self.clock() if self.clock else 0.0)
            if self.block:
                return 429, {"error": {"type": "TOO_MANY_REQUESTS", "message": "blocked", "description": "IP"}}
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if headers.get("authorization") != expected:
                return 401, {"error": {"type": "invalid_client", "description": "The client credentials are invalid"}}
            if form.get("grant_type") == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in self.live_refresh:
                    self.reuse += 1
                    return 400, {"error": {"type": "invalid_grant", "description": f"Invalid refresh token {token}"}}
                self.live_refresh.discard(token)
                self.refreshes += 1
                return 200, self.pair()
            if form.get("grant_type") == "authorization_code":
                code = form.get("code", "")
                if code not in self.codes:
                    return 400, {"error": {"type": "VALIDATION_ERROR", "description": "Invalid authorization code"}}
                self.codes.discard(code)
                self.exchanges += 1
                return 200, self.pair()
            return 400, {"error": {"type": "unsupported_grant_type"}}


@pytest.fixture
def bling() -> Iterator[FakeBling]:
    fake = FakeBling()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            status, answer = fake.token(form, {k.lower(): v for k, v in self.headers.items()})
            self._send(status, answer)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/Api/v3/oauth/authorize":
                if fake.authorize_error:
                    target = {
                        "error": fake.authorize_error,
                        "error_description": "O usuário negou",
                        "state": query["state"],
                    }
                else:
                    code = secrets.token_hex(20)
                    with fake.lock:
                        fake.codes.add(code)
                    target = {"code": code, "state": query.get("state", "")}
                self._send(302, None, {"Location": f"{fake.redirect_uri}?{urlencode(target)}"})
                return
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in fake.live_access:
                self._send(
                    401, {"error": {"type": "invalid_token", "description": "The access token provided is invalid"}}
                )
                return
            self._send(200, {"data": [{"id": 1}]})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    server.server_close()


def make_auth(bling: FakeBling, store_path: Path, **overrides: Any) -> OAuth2Auth:
    config: dict[str, Any] = {
        "token_url": f"{bling.url}/Api/v3/oauth/token",
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "client_auth": "basic",
        "token_headers": {"Accept": "1.0"},
        "reauth_command": "ponte auth bling --account loja1",
        "token_store": {"type": "file", "path": str(store_path), "key": "bling-loja1"},
        "rate_limit": {"requests": overrides.pop("token_requests", 10_000)},
    }
    return OAuth2Auth(
        OAuth2Config.from_mapping(config),
        token_store=FileTokenStore(store_path),
        account="loja1",
        **overrides,
    )


def bearer(auth: OAuth2Auth) -> str:
    request = requests.Request("GET", "http://example.invalid/x").prepare()
    auth.apply(request)
    return request.headers["Authorization"].removeprefix("Bearer ")


# A second process refreshing from the same store: argv = token_url, store path, applies
CHILD = r"""
import sys
import requests
from ponte.auth.oauth2 import OAuth2Auth
from ponte.auth.token_store import FileTokenStore
from ponte.declaration.models import OAuth2Config

url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = OAuth2Config.from_mapping({
    "token_url": url, "grant_type": "authorization_code", "client_id": sys.argv[4], "client_secret": sys.argv[5],
    "client_auth": "basic", "token_store": {"key": "bling-loja1"}, "rate_limit": {"requests": 10000},
})
auth = OAuth2Auth(config, token_store=FileTokenStore(path))
print("ready", flush=True)
sys.stdin.readline()
for _ in range(n):
    auth.apply(requests.Request("GET", "http://example.invalid/").prepare())
print("done", flush=True)
"""


def test_instances_and_processes_sharing_a_store_never_spend_a_dead_refresh_token(
    bling: FakeBling, tmp_path: Path
) -> None:
    bling.expires_in = -1  # tokens arrive already expired: every apply refreshes
    store_path = tmp_path / "tokens.json"
    bling.seed(FileTokenStore(store_path), "bling-loja1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            f"{bling.url}/Api/v3/oauth/token",
            str(store_path),
            "15",
            CLIENT_ID,
            CLIENT_SECRET,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "ready"
    auths = [make_auth(bling, store_path), make_auth(bling, store_path)]
    errors: list[BaseException] = []

    def run(auth: OAuth2Auth) -> None:
        try:
            for _ in range(15):
                bearer(auth)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in auths for _ in range(2)]
    proc.stdin.write("go\n")
    proc.stdin.flush()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not errors
    assert bling.reuse == 0
    assert bling.refreshes == 4 * 15 + 15
    assert FileTokenStore(store_path).load("bling-loja1").refresh_token in bling.live_refresh


def test_a_token_rotated_elsewhere_is_reused_and_a_refused_one_refreshed_once(bling: FakeBling, tmp_path: Path) -> None:
    store_path = tmp_path / "tokens.json"
    bling.seed(FileTokenStore(store_path), "bling-loja1")
    first, second = make_auth(bling, store_path), make_auth(bling, store_path)
    token = bearer(first)
    assert bling.refreshes == 1
    assert bearer(second) == token  # loaded from the store, no refresh
    assert bling.refreshes == 1
    assert second.on_unauthorized()  # the server refused it: the store still holds it → refresh
    newer = bearer(second)
    assert newer != token and bling.refreshes == 2
    assert first.on_unauthorized()  # first still had the old one: the store already has a newer token
    assert bearer(first) == newer and bling.refreshes == 2
    assert bling.reuse == 0
    form, headers = bling.token_forms[-1], bling.token_headers[-1]
    assert form.keys() == {"grant_type", "refresh_token"}  # credentials only in the Basic header
    assert headers["accept"] == "1.0"


def test_http_client_renews_after_a_401_and_the_redactor_learns_every_token(bling: FakeBling, tmp_path: Path) -> None:
    store_path = tmp_path / "tokens.json"
    seeded = bling.seed(FileTokenStore(store_path), "bling-loja1", expired=False)
    auth = make_auth(bling, store_path)
    redactor = Redactor(auth.secrets())
    auth.on_new_secret = redactor.add
    client = HttpClient(HttpSettings(name="tap-bling"), redactor=redactor, auth=auth)
    request = requests.Request("GET", f"{bling.url}/Api/v3/produtos").prepare()
    assert parsed_body(client.send(request, label="produtos")) == {"data": [{"id": 1}]}
    assert bling.refreshes == 0
    bling.live_access.clear()  # the server revokes the access token
    request = requests.Request("GET", f"{bling.url}/Api/v3/produtos").prepare()
    assert parsed_body(client.send(request, label="produtos")) == {"data": [{"id": 1}]}
    assert bling.refreshes == 1
    for value in bling.issued:  # the seeded pair and the rotated one
        assert value in auth.secrets()
        assert redactor.redact(f"x {value} y") == "x **** y"
    assert seeded.refresh_token not in bling.live_refresh


def test_token_calls_never_exceed_the_budget_per_rolling_minute(
    bling: FakeBling, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_000_000.0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            return now[0]

    def sleep(seconds: float) -> None:
        with lock:
            now[0] += seconds
            slept.append(seconds)

    slept: list[float] = []
    bling.clock = clock
    bling.expires_in = -1  # every apply refreshes
    store_path = tmp_path / "tokens.json"
    bling.seed(FileTokenStore(store_path), "bling-loja1")
    auths = [make_auth(bling, store_path, token_requests=3, clock=clock, sleep=sleep) for _ in range(2)]
    with caplog.at_level(logging.WARNING, logger="ponte.auth"):
        for i in range(10):
            bearer(auths[i % 2])
    times = bling.call_times
    assert len(times) == 10 and bling.reuse == 0
    assert all(times[i + 3] - times[i] >= 60 for i in range(len(times) - 3))
    assert slept and sum(slept) >= 3 * 60
    assert "auth.rate_limit" in caplog.text


def test_a_token_is_renewed_once_a_tenth_of_its_lifetime_is_left(bling: FakeBling, tmp_path: Path) -> None:
    now = [1_000_000.0]
    bling.expires_in = 30  # short-lived tokens (RM's lifetime is configurable): a fixed minute would renew always
    store_path = tmp_path / "tokens.json"
    bling.seed(FileTokenStore(store_path), "bling-loja1")
    auth = make_auth(bling, store_path, clock=lambda: now[0])
    first = bearer(auth)
    assert bling.refreshes == 1
    now[0] += 26.9  # 3.1 s left
    assert bearer(auth) == first
    assert bearer(make_auth(bling, store_path, clock=lambda: now[0])) == first  # read from the store: same rule
    assert bling.refreshes == 1
    now[0] += 0.2  # 2.9 s left: less than a tenth of 30 s
    assert bearer(auth) != first
    assert bling.refreshes == 2


def test_refused_refresh_token_names_the_reauth_command(bling: FakeBling, tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    record = bling.seed(store, "bling-loja1")
    bling.live_refresh.clear()  # revoked, or already used by someone else
    auth = make_auth(bling, store.path)
    with pytest.raises(AuthError) as caught:
        bearer(auth)
    message = str(caught.value)
    assert "refresh token of account 'loja1' was refused" in message
    assert "run `ponte auth bling --account loja1` to authorize again" in message
    assert record.refresh_token not in message and record.access_token not in message
    assert caught.value.exit_code == 3


def test_empty_store_and_blocked_ip_are_explained(bling: FakeBling, tmp_path: Path) -> None:
    auth = make_auth(bling, tmp_path / "tokens.json")
    with pytest.raises(AuthError, match=r"no tokens for account 'loja1' yet .*run `ponte auth bling --account loja1`"):
        bearer(auth)
    bling.seed(FileTokenStore(tmp_path / "tokens.json"), "bling-loja1")
    bling.block = True
    with pytest.raises(AuthError, match="token endpoint is blocking this IP"):
        bearer(make_auth(bling, tmp_path / "tokens.json"))


def test_registry_wires_the_store_and_token_endpoint_options(bling: FakeBling, tmp_path: Path) -> None:
    block = {
        "type": "oauth2",
        "grant_type": "authorization_code",
        "token_url": f"{bling.url}/Api/v3/oauth/token",
        "authorize_url": f"{bling.url}/Api/v3/oauth/authorize",
        "redirect_uri": "http://127.0.0.1:8977/callback",
        "client_auth": "basic",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_headers": {"Accept": "1.0", "enable-jwt": 1},
        "rate_limit": {"requests": "4", "per_seconds": "60"},
        "reauth_command": "ponte auth bling --account loja1",
        "token_store": {"type": "file", "path": str(tmp_path / "t.json"), "dsn": None, "key": "bling-loja1"},
    }
    auth = build_authenticator(block, label="tap-bling account 'loja1'", account="loja1")
    assert isinstance(auth, OAuth2Auth) and isinstance(auth.token_store, FileTokenStore)
    assert (auth.store_key, auth.config.rate_limit.requests) == ("bling-loja1", 4)
    bling.seed(auth.token_store, "bling-loja1")
    bearer(auth)
    assert bling.token_headers[-1]["enable-jwt"] == "1"
    assert auth.token_store.token_calls()  # the call was logged for the shared budget


# -- ponte auth ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ponte_env(bling: FakeBling, tmp_path: Path, *, with_settings: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_BLING_")}
    env["PONTE_TAPS_DIR"] = str(REPO / "taps")
    if with_settings:
        env.update(
            {
                "TAP_BLING_ACCOUNTS": json.dumps([{"name": "loja1"}, {"name": "loja2"}]),
                "TAP_BLING_CLIENT_ID": CLIENT_ID,
                "TAP_BLING_CLIENT_SECRET": CLIENT_SECRET,
                "TAP_BLING_BASE_URL": f"{bling.url}/Api/v3",
                "TAP_BLING_AUTHORIZE_URL": f"{bling.url}/Api/v3/oauth/authorize",
                "TAP_BLING_REDIRECT_URI": bling.redirect_uri,
                "TAP_BLING_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
            }
        )
    return env


def ponte_cmd() -> list[str]:
    return [sys.executable, "-c", "from ponte.cli.main import main; main()"]


def start_auth(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """Run `ponte auth ...` and return it with the authorize URL it printed (its listener is up by then)."""
    proc = subprocess.Popen(
        [*ponte_cmd(), "auth", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("http"):
                return proc, line.strip()
        raise AssertionError(
            "no authorize URL printed: " + "".join(lines) + (proc.stderr.read() if proc.stderr else "")
        )
    finally:
        killer.cancel()


def test_ponte_auth_listens_for_the_redirect_and_saves_the_tokens(bling: FakeBling, tmp_path: Path) -> None:
    port = free_port()
    bling.redirect_uri = f"http://127.0.0.1:{port}/callback"
    env = ponte_env(bling, tmp_path)
    proc, url = start_auth(["bling", "--account", "loja1", "--no-browser", "--timeout", "30"], env, tmp_path)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{bling.url}/Api/v3/oauth/authorize?")
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert len(query["state"][0]) == 32
    # a callback with another state (an old tab) is refused, and the listener keeps waiting
    stray = requests.get(f"{bling.redirect_uri}?code=abc&state={'0' * 32}", timeout=10)
    assert stray.status_code == 400
    # the browser: authorize → 302 to the callback with code and state
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "Authorization received" in page.text
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    output = out + err
    assert "account 'loja1' authorized; tokens saved in file " in output
    assert "access token valid until" in output
    stored = FileTokenStore(tmp_path / "tokens.json").load("bling-loja1")
    assert stored is not None and stored.access_token in bling.issued and stored.refresh_token in bling.live_refresh
    assert bling.exchanges == 1
    form, headers = bling.token_forms[-1], bling.token_headers[-1]
    assert form.keys() == {"grant_type", "code"} and form["grant_type"] == "authorization_code"
    assert headers["accept"] == "1.0"
    for secret in [*bling.issued, CLIENT_SECRET, form["code"]]:
        assert secret not in output

    status = subprocess.run(
        [*ponte_cmd(), "auth", "bling", "--account", "loja1", "--status"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "account 'loja1': tokens in file" in status.stdout and "valid until" in status.stdout
    assert "last rotated" in status.stdout
    for secret in [*bling.issued, CLIENT_SECRET]:
        assert secret not in status.stdout + status.stderr

    # the tap side picks the pair up and refreshes from it
    auth = make_auth(bling, tmp_path / "tokens.json")
    assert bearer(auth) == stored.access_token
    assert auth.on_unauthorized() and bearer(auth) != stored.access_token and bling.reuse == 0


def test_ponte_auth_reads_a_config_file_and_reports_a_denied_consent(bling: FakeBling, tmp_path: Path) -> None:
    port = free_port()
    bling.redirect_uri = f"http://127.0.0.1:{port}/callback"
    bling.authorize_error = "access_denied"
    config = {
        "accounts": [{"name": "loja2", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        "base_url": f"{bling.url}/Api/v3",
        "authorize_url": f"{bling.url}/Api/v3/oauth/authorize",
        "redirect_uri": bling.redirect_uri,
        "token_store_path": str(tmp_path / "tokens.json"),
    }
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    env = ponte_env(bling, tmp_path, with_settings=False)
    proc, url = start_auth(
        ["bling", "--account", "loja2", "--config", "cfg.json", "--no-browser", "--timeout", "30"], env, tmp_path
    )
    page = requests.get(url, timeout=10)
    assert "Authorization failed" in page.text
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert "the authorization was not granted: access_denied (O usuário negou)" in err
    assert bling.exchanges == 0 and not (tmp_path / "tokens.json").exists()


def test_ponte_auth_errors_exit_with_their_codes(bling: FakeBling, tmp_path: Path) -> None:
    bling.redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    env = ponte_env(bling, tmp_path)

    def ponte_auth(*args: str) -> subprocess.CompletedProcess[str]:  # in-process: the other tests start `ponte`
        return run_console_script("ponte", ["auth", "bling", *args], env=env, cwd=tmp_path)

    unknown = ponte_auth("--account", "nope", "--status")
    assert unknown.returncode == 2 and "no account named 'nope'; configured accounts: loja1, loja2" in unknown.stderr
    missing = ponte_auth("--account", "loja1", "--status")
    assert missing.returncode == 3
    assert (
        "no tokens for account 'loja1' yet" in missing.stderr and "ponte auth bling --account loja1" in missing.stderr
    )
    bad_code = ponte_auth("--account", "loja1", "--code", "0" * 40)
    assert bad_code.returncode == 3 and "authorization code was refused" in bad_code.stderr
    assert CLIENT_SECRET not in bad_code.stdout + bad_code.stderr
