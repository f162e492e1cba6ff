"""The whole Bling token life cycle over real sockets: `ponte auth bling` → tap-bling → refresh → rotation persisted.

`ponte auth bling --account NAME` runs as users run it (a child process): it prints the authorize URL and listens
on the redirect URI; the test plays the browser, GETting that URL at the Bling sandbox, which auto-approves and
answers 302 to the listener with code and state. The CLI exchanges the code and saves the pair in the file token
store; tap-bling then reads both accounts, renews refused access tokens, and persists every rotated refresh token.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ponte.auth.token_store import FileTokenStore, TokenRecord
from ponte.testing import SandboxProcess, run_tap
from ponte.testing.singer_process import SingerRun, console_script, discover, select_only

ACCOUNTS = ("loja-matriz", "loja-filial")
CLIENT_ID, CLIENT_SECRET = "sandbox-client-id", "sandbox-client-secret"
CLI_TIMEOUT = 20  # seconds: an auth run takes about one; this only bounds a hang


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Bling:
    sandbox: SandboxProcess
    redirect_uri: str
    folder: Path

    @property
    def store_path(self) -> Path:
        return self.folder / "tokens.json"

    @property
    def config_path(self) -> Path:
        return self.folder / "cfg.json"

    def config(self) -> dict[str, Any]:
        return json.loads(self.config_path.read_text())  # type: ignore[no-any-return]

    def token_stats(self) -> dict[str, dict[str, int]]:
        answer = self.sandbox.session.get(f"{self.sandbox.url}/_sandbox/bling/tokens", timeout=10)
        answer.raise_for_status()
        return answer.json()["companies"]  # type: ignore[no-any-return]

    def expire_access_tokens(self, company: str) -> int:
        return int(self.sandbox.admin("bling/expire-access-tokens", {"company": company})["expired"])

    def company_ids(self) -> dict[str, int]:
        """Each company's id, from the sandbox's own description (independent of any token)."""
        answer = self.sandbox.session.get(f"{self.sandbox.url}/_sandbox/bling/info", timeout=10)
        answer.raise_for_status()
        return {c["slug"]: c["id"] for c in answer.json()["companies"]}

    def token_calls(self) -> list[float]:
        """Token-endpoint calls the client side counted in the store (CLI and tap share one budget)."""
        return FileTokenStore(self.store_path).token_calls()

    def refill_token_budget(self) -> None:
        """Age the store's token-call log by a minute, as if one had passed.

        taps/bling.yml allows 5 token calls a minute per store (Bling blocks the IP after 20); this test makes
        more, and waiting the minute out would only make it slow. Only done while no ponte process runs.
        """
        data = json.loads(self.store_path.read_text())
        data["token_calls"] = [float(t) - 61 for t in data.get("token_calls") or []]
        self.store_path.write_text(json.dumps(data))  # the file exists: its 0600 mode stays

    def stored(self, company: str) -> TokenRecord:
        record = FileTokenStore(self.store_path).load(f"bling-{company}")
        assert record is not None, f"no tokens stored for {company}"
        return record


@pytest.fixture
def bling(tmp_path: Path) -> Iterator[Bling]:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    args = ("--products", "3", "--set", f'redirect_uri="{redirect_uri}"', "--set", "rate_limit=1000")
    with SandboxProcess.start("bling", *args) as sandbox:
        config = {
            "accounts": [{"name": name} for name in ACCOUNTS],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "base_url": sandbox.base_url,
            "authorize_url": f"{sandbox.base_url}/oauth/authorize",
            "redirect_uri": redirect_uri,
            "token_store_path": str(tmp_path / "tokens.json"),
            "state_dir": str(tmp_path / "state"),
            "requests_per_second": 1000,
            "backoff_base_seconds": 0.05,
        }
        (tmp_path / "cfg.json").write_text(json.dumps(config))
        yield Bling(sandbox, redirect_uri, tmp_path)


def cli_env() -> dict[str, str]:
    """The environment without TAP_BLING_* settings, so only --config speaks."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_BLING_")}


def ponte_auth(bling: Bling, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("ponte"), "auth", "bling", "--config", str(bling.config_path), *args],
        env=cli_env(),
        cwd=bling.folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT * 2,
    )


@dataclass
class Consent:
    """One `ponte auth bling` run that went through the browser flow."""

    returncode: int
    output: str  # stdout + stderr
    url: str  # the authorize URL it printed
    code: str  # the code the sandbox redirected with
    page: requests.Response  # what the "browser" ended on (the CLI's callback page)


def authorize_with_cli(bling: Bling, company: str, before_consent: Callable[[str], object] | None = None) -> Consent:
    """Run `ponte auth bling --account <company>`, consent as that company in the "browser", wait for the exit.

    `before_consent(url)` runs once the URL is printed (the listener is up), before the browser goes there.
    """
    proc = subprocess.Popen(
        [
            console_script("ponte"),
            "auth",
            "bling",
            "--account",
            company,
            "--config",
            str(bling.config_path),
            "--no-browser",
            "--timeout",
            str(CLI_TIMEOUT),
        ],
        env=cli_env(),
        cwd=bling.folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    killer = threading.Timer(CLI_TIMEOUT * 2, proc.kill)  # bounds a hang while reading the URL
    killer.start()
    try:
        printed = []
        url = ""
        for line in proc.stdout:  # the URL is printed once the listener is up
            printed.append(line)
            if line.strip().startswith("http"):
                url = line.strip()
                break
        if not url:
            proc.wait()
            raise AssertionError("no authorize URL printed: " + "".join(printed) + proc.stderr.read())  # type: ignore[union-attr]
        if before_consent is not None:
            before_consent(url)
        # the browser: the authorize URL (as that company) → 302 to the CLI's listener → its "received" page
        page = requests.get(f"{url}&sandbox_company={company}", timeout=10)
        out, err = proc.communicate(timeout=CLI_TIMEOUT * 2)
    finally:
        killer.cancel()
        if proc.poll() is None:  # the test failed midway: do not leave the listener behind
            proc.kill()
            proc.communicate()
    assert page.history and page.history[0].status_code == 302, page.text
    location = page.history[0].headers["Location"]
    assert location.startswith(bling.redirect_uri + "?")
    code = parse_qs(urlsplit(location).query)["code"][0]
    return Consent(proc.returncode, "".join(printed) + out + err, url, code, page)


def tap_catalog(bling: Bling) -> dict[str, Any]:
    return select_only(discover("tap-bling", bling.config()), {"empresa"})


def run_empresa(bling: Bling, catalog: dict[str, Any]) -> SingerRun:
    return run_tap("tap-bling", bling.config(), catalog=catalog, env=cli_env(), timeout=60)


def check_empresa(bling: Bling, run: SingerRun) -> None:
    assert run.returncode == 0, run.stderr
    ids = bling.company_ids()
    got = {r["conta"]: r["id"] for r in run.records("empresa")}
    assert got == {company: ids[company] for company in ACCOUNTS}
    assert len(run.records("empresa")) == len(ACCOUNTS)


def dados_basicos(bling: Bling, access_token: str) -> requests.Response:
    """`GET /empresas/me/dados-basicos` with a token, straight at the sandbox."""
    return requests.get(
        f"{bling.sandbox.base_url}/empresas/me/dados-basicos",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def secrets_of(bling: Bling, consents: list[Consent]) -> set[str]:
    """Everything that must never be printed: the client secret, every code, every token ever stored."""
    found = {CLIENT_SECRET, *(c.code for c in consents)}
    for company in ACCOUNTS:
        record = FileTokenStore(bling.store_path).load(f"bling-{company}")
        if record is not None:
            found |= {record.access_token, record.refresh_token or ""}
    return found - {""}


def test_two_accounts_authorized_by_the_cli_then_read_refreshed_and_rotated_by_the_tap(bling: Bling) -> None:
    consents = {}
    for company in ACCOUNTS:
        consent = authorize_with_cli(bling, company)
        assert consent.returncode == 0, consent.output
        query = parse_qs(urlsplit(consent.url).query)
        assert consent.url.startswith(f"{bling.sandbox.base_url}/oauth/authorize?")
        assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
        assert consent.page.status_code == 200 and "Authorization received" in consent.page.text
        assert f"account '{company}' authorized; tokens saved in file" in consent.output
        consents[company] = consent

    # the store: one pair per account, 0600, each pair the sandbox's live tokens of the right company
    store = json.loads(bling.store_path.read_text())
    assert set(store["tokens"]) == {f"bling-{c}" for c in ACCOUNTS}
    assert bling.store_path.stat().st_mode & 0o777 == 0o600
    first = {company: bling.stored(company) for company in ACCOUNTS}
    assert first["loja-matriz"].refresh_token != first["loja-filial"].refresh_token
    stats = bling.token_stats()
    for company in ACCOUNTS:
        assert stats[company]["authorizations"] == 1 and stats[company]["code_exchanges"] == 1, stats
        assert stats[company]["code_reuses"] == 0 and stats[company]["admin_grants"] == 0, stats
    assert len({c.code for c in consents.values()}) == 2
    assert len(bling.token_calls()) == 2  # both exchanges counted in the store's shared token budget
    # no code, token or secret on the CLI's stdout or stderr
    printed = "".join(c.output for c in consents.values())
    for secret in secrets_of(bling, list(consents.values())):
        assert secret not in printed

    # run 1: each account's record is its own company, read with the tokens the CLI saved
    catalog = tap_catalog(bling)
    check_empresa(bling, run_empresa(bling, catalog))
    assert {c: bling.stored(c).refresh_token for c in ACCOUNTS} == {c: first[c].refresh_token for c in ACCOUNTS}
    assert all(s["refreshes"] == 0 for s in bling.token_stats().values())
    log = [e for e in bling.sandbox.request_log() if e["path"].endswith("/empresas/me/dados-basicos")]
    assert sorted(e["company"] for e in log) == sorted(ACCOUNTS) and {e["status"] for e in log} == {200}

    # run 2: the server expires the access tokens the store still thinks valid → 401, one refresh each, retried
    for company in ACCOUNTS:
        assert bling.expire_access_tokens(company) == 1
    bling.sandbox.reset_log()
    second_run = run_empresa(bling, catalog)
    check_empresa(bling, second_run)
    stats = bling.token_stats()
    for company in ACCOUNTS:
        assert stats[company]["refreshes"] == 1, stats
        assert stats[company]["dead_refresh_attempts"] == 0, stats
    second = {company: bling.stored(company) for company in ACCOUNTS}
    for company in ACCOUNTS:  # the rotated pair was persisted (Bling killed the old refresh token at once)
        assert second[company].refresh_token != first[company].refresh_token
        assert second[company].access_token != first[company].access_token
    refused = [e for e in bling.sandbox.request_log() if e["status"] == 401]
    assert sorted(e["company"] for e in refused) == sorted(ACCOUNTS)
    assert bling.store_path.stat().st_mode & 0o777 == 0o600
    assert len(bling.token_calls()) == 4

    # run 3: expire again: only the persisted, rotated refresh token can renew now, and it does
    for company in ACCOUNTS:
        assert bling.expire_access_tokens(company) == 1
    bling.refill_token_budget()  # 4 calls so far; 2 more would wait for the 5-a-minute budget
    third_run = run_empresa(bling, catalog)
    check_empresa(bling, third_run)
    stats = bling.token_stats()
    for company in ACCOUNTS:
        assert stats[company]["refreshes"] == 2, stats
        assert stats[company]["dead_refresh_attempts"] == 0, stats
        assert stats[company]["live_refresh_tokens"] == 1, stats
        assert bling.stored(company).refresh_token != second[company].refresh_token

    tap_output = second_run.stderr + third_run.stderr + json.dumps(second_run.of_type("STATE"))
    for secret in secrets_of(bling, list(consents.values())) | {
        t for r in (*first.values(), *second.values()) for t in (r.access_token, r.refresh_token or "")
    }:
        assert secret not in tap_output


def test_a_replayed_code_is_refused_and_bling_revokes_that_user(bling: Bling) -> None:
    consents = {company: authorize_with_cli(bling, company) for company in ACCOUNTS}
    for consent in consents.values():
        assert consent.returncode == 0, consent.output
    before = {company: bling.stored(company) for company in ACCOUNTS}
    assert all(dados_basicos(bling, before[c].access_token).status_code == 200 for c in ACCOUNTS)

    # replayed straight to the token endpoint: refused, and (as Bling does) the user's tokens are revoked
    replay = requests.post(
        f"{bling.sandbox.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": consents["loja-filial"].code},
        auth=(CLIENT_ID, CLIENT_SECRET),
        headers={"Accept": "1.0"},
        timeout=10,
    )
    assert replay.status_code == 400
    assert "already been used" in replay.json()["error"]["description"]

    # replayed through the CLI (--code): a clear refusal, exit 3, no secret printed, the store left alone
    again = ponte_auth(bling, "--account", "loja-matriz", "--code", consents["loja-matriz"].code)
    assert again.returncode == 3, again.stdout + again.stderr
    assert "authorization code was refused" in again.stderr and "already been used" in again.stderr
    assert "a code works once and only for a minute" in again.stderr
    assert "run `ponte auth bling --account loja-matriz` again" in again.stderr
    assert "Traceback" not in again.stderr
    for secret in secrets_of(bling, list(consents.values())):
        assert secret not in again.stdout + again.stderr
    assert bling.stored("loja-matriz") == before["loja-matriz"]

    stats = bling.token_stats()
    for company in ACCOUNTS:
        assert stats[company]["code_exchanges"] == 1 and stats[company]["code_reuses"] == 1, stats
        assert stats[company]["live_access_tokens"] == 0 and stats[company]["live_refresh_tokens"] == 0, stats
        assert dados_basicos(bling, before[company].access_token).status_code == 401

    # authorizing again with the CLI heals the account: a new code, a new pair that works
    consent = authorize_with_cli(bling, "loja-matriz")
    assert consent.returncode == 0, consent.output
    assert consent.code not in {c.code for c in consents.values()}
    renewed = bling.stored("loja-matriz")
    assert renewed.refresh_token != before["loja-matriz"].refresh_token
    answer = dados_basicos(bling, renewed.access_token)
    assert answer.status_code == 200 and answer.json()["data"]["id"] == bling.company_ids()["loja-matriz"]
    assert bling.token_stats()["loja-matriz"]["code_exchanges"] == 2
    assert len(bling.token_calls()) == 4  # 3 exchanges and the refused replay, in the store's shared budget

    # --status describes the stored pair without printing it
    status = ponte_auth(bling, "--account", "loja-matriz", "--status")
    assert status.returncode == 0, status.stderr
    assert "account 'loja-matriz': tokens in file" in status.stdout
    assert "under key 'bling-loja-matriz'" in status.stdout and "access token valid until" in status.stdout
    assert "last rotated" in status.stdout and "no refresh token stored" not in status.stdout
    for secret in secrets_of(bling, [*consents.values(), consent]) | {before["loja-matriz"].access_token}:
        assert secret not in status.stdout + status.stderr


def test_a_spent_token_budget_is_waited_out_before_consent_so_the_code_is_exchanged_at_once(bling: Bling) -> None:
    # Bling codes die after a minute and the store's budget (5 token calls a minute) can delay a call by up to
    # one: the CLI must wait before asking for consent, never between consent and exchange. Here codes die
    # after a second and the budget, spent by earlier runs, frees up 4 s from now.
    bling.sandbox.configure(code_ttl_seconds=1.0)
    store, spent_at = FileTokenStore(bling.store_path), time.time() - 56
    for _ in range(5):
        assert store.reserve_token_call(5, 60.0, spent_at) == 0.0
    frees_at = spent_at + 60

    def budget_has_room(url: str) -> None:
        assert time.time() >= frees_at, "the CLI asked for consent while its token budget was spent"

    consent = authorize_with_cli(bling, "loja-matriz", before_consent=budget_has_room)
    assert consent.returncode == 0, consent.output
    stats = bling.token_stats()["loja-matriz"]
    assert stats["code_exchanges"] == 1 and stats["authorizations"] == 1, stats
    assert dados_basicos(bling, bling.stored("loja-matriz").access_token).status_code == 200
    assert len(bling.token_calls()) == 1  # the 5 old calls aged out; the exchange counted once
