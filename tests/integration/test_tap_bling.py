"""tap-bling as users run it: the console script in a child process against the Bling sandbox over sockets.

Two Bling accounts (companies) are read in one run, each with its own OAuth2 tokens in a file token store,
its own 3 req/s budget and its own bookmarks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ponte.auth.token_store import FileTokenStore
from ponte.testing import SandboxProcess, bling_tokens
from ponte.testing.in_process import SandboxThread, run_tap_in_process
from ponte.testing.singer_process import BackgroundTap, SingerRun

ACCOUNTS = ("loja-matriz", "loja-filial")
CLIENT_SECRET = "sandbox-client-secret"
PREFIX = "/Api/v3"
UNLIMITED = ("--set", "rate_limit=1000")


def seed_tokens(sandbox: SandboxProcess, store_path: Path, *, expires_in: float | None = None) -> dict[str, dict]:
    """Authorize every account and save its tokens where the tap looks for them."""
    return bling_tokens.seed_tokens(sandbox, store_path, ACCOUNTS, expires_in=expires_in)


def company_token(sandbox: SandboxProcess, company: str) -> str:
    return str(bling_tokens.grant(sandbox, company)["access_token"])


def api_get(sandbox: SandboxProcess, company: str, path: str, **params: Any) -> Any:
    """Read the sandbox directly, as that company, to know what the tap should have found."""
    headers = {"Authorization": f"Bearer {company_token(sandbox, company)}"}
    answer = requests.get(f"{sandbox.base_url}{path}", params=params, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def list_all(sandbox: SandboxProcess, company: str, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        data = api_get(sandbox, company, path, pagina=page, limite=100, **params)
        if not data:
            return found
        found.extend(data)
        page += 1


@pytest.fixture
def bling(tmp_path: Path) -> Iterator[SandboxProcess]:
    with SandboxThread.start("bling", "--products", "40", *UNLIMITED) as sandbox:
        yield sandbox


def config_for(sandbox: SandboxProcess, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "accounts": [{"name": name} for name in ACCOUNTS],
        "client_id": "sandbox-client-id",
        "client_secret": CLIENT_SECRET,
        "base_url": sandbox.base_url,
        "authorize_url": f"{sandbox.base_url}/oauth/authorize",
        "token_store_path": str(tmp_path / "tokens.json"),
        "state_dir": str(tmp_path / "state"),
        "requests_per_second": 1000,
        "backoff_base_seconds": 0.05,
        **extra,
    }


def run_streams(config: dict[str, Any], streams: set[str], **kwargs: Any) -> SingerRun:
    return run_tap_in_process("tap-bling", config, streams=streams, **kwargs)


def resource_requests(sandbox: SandboxProcess, suffix: str = "") -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log() if "/oauth/" not in e["path"] and e["path"].endswith(suffix)]


def test_two_accounts_in_one_run_each_record_attributed_to_its_account(bling: SandboxProcess, tmp_path: Path) -> None:
    seed_tokens(bling, tmp_path / "tokens.json")
    run = run_streams(config_for(bling, tmp_path), {"empresa", "depositos", "produtos", "contatos", "pedidos_vendas"})
    assert run.returncode == 0, run.stderr
    for company in ACCOUNTS:
        expected = {p["id"] for p in list_all(bling, company, "/produtos", criterio=5)}
        got = {r["id"] for r in run.records("produtos") if r["conta"] == company}
        assert got == expected and got, company
        contacts = {c["id"] for c in list_all(bling, company, "/contatos", criterio=1)}
        assert {r["id"] for r in run.records("contatos") if r["conta"] == company} == contacts
        own = api_get(bling, company, "/empresas/me/dados-basicos")
        assert [r["id"] for r in run.records("empresa") if r["conta"] == company] == [own["id"]]
    matriz = {r["id"] for r in run.records("produtos") if r["conta"] == "loja-matriz"}
    filial = {r["id"] for r in run.records("produtos") if r["conta"] == "loja-filial"}
    assert not matriz & filial
    # list records are merged with their detail: fields only the detail endpoint has are there
    assert all("gtin" in r and "unidade" in r for r in run.records("produtos"))
    assert all("itens" in r for r in run.records("pedidos_vendas"))
    # every resource request went out with the right company's token
    log = resource_requests(bling)
    assert {e["company"] for e in log} == set(ACCOUNTS)


def test_accounts_from_the_environment_with_config_env(bling: SandboxProcess, tmp_path: Path) -> None:
    seed_tokens(bling, tmp_path / "tokens.json")
    config = config_for(bling, tmp_path)
    env = {"TAP_BLING_ACCOUNTS": json.dumps(config.pop("accounts"))}  # as the README's .env line sets them
    run = run_streams(config, {"empresa"}, args=("--config", "ENV"), env=env)
    assert run.returncode == 0, run.stderr
    assert sorted(r["conta"] for r in run.records("empresa")) == sorted(ACCOUNTS)


def test_saldos_for_every_product_in_every_deposit_with_ids_batched(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--products", "130", *UNLIMITED) as bling:
        seed_tokens(bling, tmp_path / "tokens.json")
        run = run_streams(config_for(bling, tmp_path), {"depositos", "estoques_saldos"})
        assert run.returncode == 0, run.stderr
        batches = [e for e in resource_requests(bling) if "/estoques/saldos/" in e["path"]]
        listings = resource_requests(bling, "/produtos")
        _check_saldos(bling, run, batches, listings)


def _check_saldos(bling: SandboxProcess, run: SingerRun, batches: list[dict], listings: list[dict]) -> None:
    for company in ACCOUNTS:
        deposits = {d["id"] for d in list_all(bling, company, "/depositos")}
        products = {p["id"] for p in list_all(bling, company, "/produtos", criterio=5)}
        got = {(r["idDeposito"], r["idProduto"]) for r in run.records("estoques_saldos") if r["conta"] == company}
        assert got == {(d, p) for d in deposits for p in products}, company
    sizes = sorted(len(e["query"]["idsProdutos[]"]) for e in batches)
    assert sizes and max(sizes) == 100 and min(sizes) < 100  # more than 100 products: several batches
    # ids are listed once per account, not once per deposit
    assert len({e["company"] for e in listings}) == 2
    assert len(listings) == 2 * len({e["query"].get("pagina", ["1"])[0] for e in listings})


def test_incremental_run_reads_only_what_changed(bling: SandboxProcess, tmp_path: Path) -> None:
    seed_tokens(bling, tmp_path / "tokens.json")
    config = config_for(bling, tmp_path)
    streams = {"produtos", "contatos", "pedidos_vendas"}
    first = run_streams(config, streams)
    assert first.returncode == 0, first.stderr
    product = [r for r in first.records("produtos") if r["conta"] == "loja-matriz"][3]  # accounts interleave
    touched = bling.session.post(
        f"{bling.url}/_sandbox/bling/touch",
        json={"company": "loja-matriz", "resource": "produtos", "id": product["id"], "changes": {"preco": 1234.5}},
        timeout=10,
    )
    touched.raise_for_status()
    bling.reset_log()
    second = run_streams(config, streams, state=first.last_state)
    assert second.returncode == 0, second.stderr
    assert [(r["conta"], r["id"], r["preco"]) for r in second.records("produtos")] == [
        ("loja-matriz", product["id"], 1234.5)
    ]
    assert second.records("contatos") == [] and second.records("pedidos_vendas") == []
    # windows were asked (not a full listing) and only the changed product's detail was fetched
    listings = resource_requests(bling, "/produtos")
    assert listings and all("dataAlteracaoInicial" in e["query"] for e in listings)
    details = [e["path"] for e in resource_requests(bling) if e["path"].startswith(f"{PREFIX}/produtos/")]
    assert details == [f"{PREFIX}/produtos/{product['id']}"]
    bookmarks = second.last_state["bookmarks"]["produtos"]["partitions"]
    assert {p["context"]["conta"] for p in bookmarks} == set(ACCOUNTS)


def test_windows_of_a_long_gap_never_exceed_one_year(bling: SandboxProcess, tmp_path: Path) -> None:
    seed_tokens(bling, tmp_path / "tokens.json")
    old = "2023-01-15T08:00:00-03:00"
    state = {
        "bookmarks": {
            "contatos": {
                "partitions": [
                    {
                        "context": {"conta": name},
                        "replication_key": "dataAlteracaoInicial",
                        "replication_key_value": old,
                    }
                    for name in ACCOUNTS
                ]
            }
        }
    }
    run = run_streams(config_for(bling, tmp_path), {"contatos"}, state=state)
    assert run.returncode == 0, run.stderr
    windows = [
        (e["query"]["dataAlteracaoInicial"][0], e["query"]["dataAlteracaoFinal"][0])
        for e in resource_requests(bling, "/contatos")
        if e["company"] == "loja-matriz"
    ]
    assert len({w for w in windows}) >= 4
    assert windows[0][0].startswith("2023-01-15 07:50")  # the bookmark minus the 10-minute lookback
    assert not any(r["status"] == 400 for r in resource_requests(bling))


def test_expired_access_token_mid_stream_is_refreshed_and_the_request_retried_once(
    bling: SandboxProcess, tmp_path: Path
) -> None:
    seed_tokens(bling, tmp_path / "tokens.json")
    config = config_for(bling, tmp_path, requests_per_second=20)
    before = FileTokenStore(tmp_path / "tokens.json").load("bling-loja-matriz")
    with BackgroundTap("tap-bling", config, {"produtos"}) as tap:
        tap.wait_for_records(5)
        expire = bling.session.post(
            f"{bling.url}/_sandbox/bling/expire-access-tokens", json={"company": "loja-matriz"}, timeout=10
        )
        expire.raise_for_status()
        result = tap.finish()
    assert result.returncode == 0, result.stderr
    expected = {p["id"] for p in list_all(bling, "loja-matriz", "/produtos", criterio=5)}
    assert {r["id"] for r in result.records("produtos") if r["conta"] == "loja-matriz"} == expected
    refused = [e for e in resource_requests(bling) if e["status"] == 401]
    assert len(refused) == 1
    after = FileTokenStore(tmp_path / "tokens.json").load("bling-loja-matriz")
    assert after is not None and before is not None and after.refresh_token != before.refresh_token
    stats = bling.session.get(f"{bling.url}/_sandbox/bling/tokens", timeout=10).json()["companies"]
    assert stats["loja-matriz"]["refreshes"] == 1


def test_refresh_during_a_long_run_and_a_second_process_never_spend_the_same_refresh_token(
    bling: SandboxProcess, tmp_path: Path
) -> None:
    # the store says the access tokens die in 61 s: the tap renews them ahead of time, mid-run
    seed_tokens(bling, tmp_path / "tokens.json", expires_in=61)
    config = config_for(bling, tmp_path, requests_per_second=15)
    with BackgroundTap("tap-bling", config, {"produtos"}) as first:
        first.wait_for_records(3)
        with BackgroundTap("tap-bling", config, {"contatos"}) as second:
            second_result = second.finish()
        first_result = first.finish()
    assert first_result.returncode == 0, first_result.stderr
    assert second_result.returncode == 0, second_result.stderr
    stats = bling.session.get(f"{bling.url}/_sandbox/bling/tokens", timeout=10).json()["companies"]
    for company in ACCOUNTS:
        assert stats[company]["refreshes"] == 1, stats
        assert stats[company]["dead_refresh_attempts"] == 0, stats
    store = json.loads((tmp_path / "tokens.json").read_text())
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600
    assert set(store["tokens"]) >= {f"bling-{c}" for c in ACCOUNTS}


def test_revoked_refresh_token_ends_the_run_saying_to_authorize_again(bling: SandboxProcess, tmp_path: Path) -> None:
    seed_tokens(bling, tmp_path / "tokens.json", expires_in=1)
    bling.session.post(f"{bling.url}/_sandbox/bling/revoke", json={"company": "loja-filial"}, timeout=10)
    run = run_streams(config_for(bling, tmp_path), {"empresa"})
    assert run.returncode == 3
    assert "ponte auth bling --account loja-filial" in run.stderr
    assert "Traceback" not in run.stderr


def test_short_lived_access_tokens_are_renewed_near_their_end_not_before_every_request(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--companies", "1", "--products", "4", *UNLIMITED) as sandbox:
        sandbox.configure(access_token_ttl_seconds=30)
        bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", ["loja-matriz"], expires_in=0)
        sandbox.reset_log()
        config = config_for(sandbox, tmp_path, accounts=[{"name": "loja-matriz"}])
        run = run_streams(config, {"empresa", "depositos", "produtos_sku"})
        log = sandbox.request_log()
    assert run.returncode == 0, run.stderr
    assert len([e for e in log if "/oauth/" not in e["path"]]) >= 3
    assert [e["path"] for e in log if "/oauth/" in e["path"]] == [f"{PREFIX}/oauth/token"]  # the one renewal
    assert "before calling the token endpoint" not in run.stderr


def test_no_secret_or_token_in_any_log_line_or_state_message(bling: SandboxProcess, tmp_path: Path) -> None:
    tokens = seed_tokens(bling, tmp_path / "tokens.json", expires_in=61)  # forces a rotation mid-run
    run = run_streams(
        config_for(bling, tmp_path),
        {"empresa", "produtos"},
        env={"LOGLEVEL": "DEBUG", "TAP_BLING_LOG_LEVEL": "DEBUG"},
    )
    assert run.returncode == 0, run.stderr
    store = json.loads((tmp_path / "tokens.json").read_text())
    secrets = {CLIENT_SECRET}
    for body in tokens.values():
        secrets |= {body["access_token"], body["refresh_token"]}
    for value in _strings(store):
        if len(value) >= 32:
            secrets.add(value)
    states = json.dumps(run.of_type("STATE"))
    for secret in secrets:
        assert secret not in run.stderr
        assert secret not in states


def test_requests_stay_within_three_per_second_without_a_single_429(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--products", "12", "--companies", "2") as sandbox:
        seed_tokens(sandbox, tmp_path / "tokens.json")
        config = config_for(sandbox, tmp_path, requests_per_second=3)
        sandbox.reset_log()
        run = run_streams(config, {"empresa", "depositos", "estoques_saldos", "produtos"})
        assert run.returncode == 0, run.stderr
        log = resource_requests(sandbox)
        assert log and not [e for e in log if e["status"] == 429]
        assert {e["company"] for e in log} == set(ACCOUNTS)


def test_429_from_the_per_second_limit_is_waited_out_and_nothing_is_lost(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--products", "8") as sandbox:
        seed_tokens(sandbox, tmp_path / "tokens.json")
        config = config_for(sandbox, tmp_path, requests_per_second=50)
        run = run_streams(config, {"produtos"})
        assert run.returncode == 0, run.stderr
        assert [e for e in resource_requests(sandbox) if e["status"] == 429], "the test needs the server to say 429"
        waits = [line for line in run.stderr.splitlines() if "status=429" in line]
        assert waits and all("no Retry-After or RateLimit-Reset from the server" in line for line in waits), waits
        sandbox.configure(rate_limit=0)  # the reference listing below must not itself meet the tap's last second
        for company in ACCOUNTS:
            expected = {p["id"] for p in list_all(sandbox, company, "/produtos", criterio=5)}
            assert {r["id"] for r in run.records("produtos") if r["conta"] == company} == expected


def test_bling_daily_quota_429_stops_the_run_cleanly_with_what_the_server_said(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--companies", "1", "--products", "8", *UNLIMITED) as sandbox:
        sandbox.configure(daily_quota=3)  # Bling sends no X-RateLimit-* header, only the 429 body
        bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", ["loja-matriz"])
        config = config_for(sandbox, tmp_path, accounts=[{"name": "loja-matriz"}])
        run = run_streams(config, {"empresa", "depositos", "produtos"})
    assert run.returncode == 0, run.stderr
    stop = [line for line in run.stderr.splitlines() if "daily request quota is spent" in line]
    assert len(stop) == 1, run.stderr
    assert "(HTTP 429 whose body says error.period = day)" in stop[0]
    assert "plan's" not in stop[0] and "per day" not in stop[0]  # the server named no limit
    assert "| ERROR" not in run.stderr  # a clean stop (exit 0), not a crash


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
