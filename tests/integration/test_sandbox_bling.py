"""The Bling API v3 sandbox over real sockets: what a client of the real API would see (shared docs, api-facts §1-4)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import requests
from click.testing import CliRunner
from ruamel.yaml import YAML

from ponte.sandbox import RunningSandbox, run_in_thread
from ponte.sandbox.bling.app import BlingApp
from ponte.sandbox.bling.switches import BLING_OVERRIDES, BLING_SWITCHES
from ponte.sandbox.cli import sandbox as sandbox_cli
from ponte.testing import SandboxProcess

CLIENT = ("sandbox-client-id", "sandbox-client-secret")
REDIRECT = "http://127.0.0.1:8977/callback"
HEX40 = re.compile(r"^[0-9a-f]{40}$")
REPO = Path(__file__).resolve().parents[2]
PER_SECOND = {
    "type": "TOO_MANY_REQUESTS",
    "message": "Limite de requisições atingido.",
    "description": "O limite de requisições por segundo foi atingido, tente novamente mais tarde.",
    "limit": 3,
    "period": "second",
}


@pytest.fixture(scope="module")
def shared() -> Iterator[RunningSandbox]:
    """Read-only tests share one sandbox (no rate limit)."""
    with run_in_thread(BlingApp(switches={"rate_limit": 0})) as running:
        yield running


@pytest.fixture
def bling() -> Iterator[RunningSandbox]:
    """A fresh sandbox for tests that change data, tokens or switches."""
    with run_in_thread(BlingApp(switches={"rate_limit": 0})) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# --- helpers --------------------------------------------------------------------------------------------------
def authorize(sb: Any, http: requests.Session, **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": CLIENT[0], "state": "st-1", **params}
    return http.get(sb.base_url + "/oauth/authorize", params=query, allow_redirects=False, timeout=10)


def redirect_params(response: requests.Response) -> tuple[str, dict[str, str]]:
    location = urlparse(response.headers["Location"])
    target = f"{location.scheme}://{location.netloc}{location.path}"
    return target, {k: v[0] for k, v in parse_qs(location.query).items()}


def token(sb: Any, http: requests.Session, auth: Any = CLIENT, **form: str) -> requests.Response:
    return http.post(sb.base_url + "/oauth/token", data=form, auth=auth, headers={"Accept": "1.0"}, timeout=10)


def grant(sb: Any, company: str = "loja-matriz") -> dict[str, Any]:
    response = requests.post(sb.url + "/_sandbox/bling/grant", json={"company": company}, timeout=10)
    response.raise_for_status()
    return response.json()


def admin(sb: Any, name: str, **payload: Any) -> Any:
    response = requests.post(f"{sb.url}/_sandbox/bling/{name}", json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


def api(sb: Any, http: requests.Session, access: str, path: str, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {access}"}
    return http.get(sb.base_url + path, params=params, headers=headers, timeout=10)


def pages(sb: Any, http: requests.Session, access: str, path: str, limite: int = 100, **params: Any) -> list[dict]:
    rows: list[dict] = []
    for pagina in range(1, 1000):
        data = api(sb, http, access, path, pagina=pagina, limite=limite, **params).json()["data"]
        if not data:
            return rows
        rows.extend(data)
    raise AssertionError("paging never ended")


def error_of(response: requests.Response) -> dict[str, Any]:
    return response.json()["error"]


def cpf_ok(doc: str) -> bool:
    digits = [int(c) for c in doc if c.isdigit()]
    if len(digits) != 11:
        return False
    for n in (9, 10):
        rest = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True)) * 10 % 11
        if rest % 10 != digits[n]:
            return False
    return True


def cnpj_ok(doc: str) -> bool:
    digits = [int(c) for c in doc if c.isdigit()]
    if len(digits) != 14:
        return False
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for n in (12, 13):
        rest = sum(d * w for d, w in zip(digits[:n], weights[13 - n :], strict=True)) % 11
        if (0 if rest < 2 else 11 - rest) != digits[n]:
            return False
    return True


def gtin_ok(code: str) -> bool:
    digits = [int(c) for c in code]
    return len(digits) == 13 and sum(d * (3 if k % 2 else 1) for k, d in enumerate(digits)) % 10 == 0


# --- OAuth: authorize -> exchange -> refresh -> rotation ---------------------------------------------------------
def test_authorization_code_cycle_with_rotating_refresh_tokens(bling: RunningSandbox, http: requests.Session) -> None:
    consent = authorize(bling, http, redirect_uri="https://elsewhere.example/cb", scope="x")
    assert consent.status_code == 302
    target, params = redirect_params(consent)
    assert target == REDIRECT  # the registered URI; the client's redirect_uri is ignored
    assert params["state"] == "st-1" and HEX40.match(params["code"])

    exchanged = token(bling, http, grant_type="authorization_code", code=params["code"])
    assert exchanged.status_code == 200
    pair = exchanged.json()
    assert list(pair) == ["access_token", "expires_in", "token_type", "scope", "refresh_token"]
    assert pair["expires_in"] == 21600 and pair["token_type"] == "Bearer"
    assert pair["scope"] == "98309 318257570 5862218180"
    assert HEX40.match(pair["access_token"]) and HEX40.match(pair["refresh_token"])
    me = api(bling, http, pair["access_token"], "/empresas/me/dados-basicos").json()["data"]
    assert set(me) == {"id", "nome", "cnpj", "email", "dataContrato"} and re.match(r"^[0-9a-f]{32}$", me["id"])

    refreshed = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    assert refreshed["refresh_token"] != pair["refresh_token"] and refreshed["access_token"] != pair["access_token"]
    assert api(bling, http, refreshed["access_token"], "/depositos").status_code == 200
    old = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert old.status_code == 400 and error_of(old)["type"] == "invalid_grant"
    newer = token(bling, http, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
    assert newer.status_code == 200

    stats = http.get(bling.url + "/_sandbox/bling/tokens", timeout=10).json()["companies"]["loja-matriz"]
    assert stats["code_exchanges"] == 1 and stats["refreshes"] == 2 and stats["dead_refresh_attempts"] == 1
    assert stats["live_refresh_tokens"] == 1


def test_sandbox_company_chooses_who_consents(bling: RunningSandbox, http: requests.Session) -> None:
    _, params = redirect_params(authorize(bling, http, sandbox_company="loja-filial"))
    pair = token(bling, http, grant_type="authorization_code", code=params["code"]).json()
    me = api(bling, http, pair["access_token"], "/empresas/me/dados-basicos").json()["data"]
    assert me["nome"].endswith("Filial") and "/0002-" in me["cnpj"] and cnpj_ok(me["cnpj"])
    assert authorize(bling, http, sandbox_company="loja-9").status_code == 400


def test_authorize_errors_come_back_on_the_redirect(bling: RunningSandbox, http: requests.Session) -> None:
    for state in ("", None):
        query = {"response_type": "code", "client_id": CLIENT[0]} | ({"state": state} if state is not None else {})
        missing = http.get(bling.base_url + "/oauth/authorize", params=query, allow_redirects=False, timeout=10)
        assert missing.status_code == 400 and "error" in missing.json()
    target, params = redirect_params(authorize(bling, http, client_id="someone-else"))
    assert target == REDIRECT and params["error"] == "invalid_client" and params["state"] == "st-1"
    assert "code" not in params and params["error_description"]
    bling.configure(authorize_outcome="access_denied")
    _, params = redirect_params(authorize(bling, http))
    assert params["error"] == "access_denied" and params["state"] == "st-1"
    bling.configure(authorize_outcome="approve", redirect_uri="http://localhost:9999/cb?app=1")
    target, params = redirect_params(authorize(bling, http))
    assert target == "http://localhost:9999/cb" and params["app"] == "1" and "code" in params


def test_reusing_a_code_revokes_that_companys_tokens(bling: RunningSandbox, http: requests.Session) -> None:
    _, params = redirect_params(authorize(bling, http))
    pair = token(bling, http, grant_type="authorization_code", code=params["code"]).json()
    other = grant(bling, "loja-filial")
    reused = token(bling, http, grant_type="authorization_code", code=params["code"])
    assert reused.status_code == 400
    assert reused.json() == {
        "error": {
            "type": "VALIDATION_ERROR",
            "message": "Invalid authorization code",
            "description": "This authorization code has already been used, for security reasons the user has been revoked.",
        }
    }
    assert error_of(api(bling, http, pair["access_token"], "/produtos"))["type"] == "invalid_token"
    dead = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert error_of(dead)["type"] == "invalid_grant"
    assert api(bling, http, other["access_token"], "/produtos").status_code == 200  # the other company is untouched


def test_code_expires_after_code_ttl_in_a_child_process(http: requests.Session) -> None:
    with SandboxProcess.start("bling", "--set", "code_ttl_seconds=0", "--companies", "1") as sandbox:
        assert sandbox.base_url.endswith("/Api/v3")
        _, params = redirect_params(authorize(sandbox, http))
        late = token(sandbox, http, grant_type="authorization_code", code=params["code"])
        assert late.status_code == 400
        assert late.json() == {
            "error": {
                "type": "invalid_grant",
                "message": "invalid_grant",
                "description": "The authorization code has expired",
            }
        }
        sandbox.configure(code_ttl_seconds=60)
        _, params = redirect_params(authorize(sandbox, http))
        alias = http.post(sandbox.url + "/oauth/token", data={"grant_type": "authorization_code", "code": params["code"]}, auth=CLIENT, timeout=10)  # fmt: skip
        assert alias.status_code == 200 and HEX40.match(alias.json()["access_token"])
        _, params = redirect_params(authorize(sandbox, http))
        sandbox.admin("bling/advance-clock", {"seconds": 61})
        assert token(sandbox, http, grant_type="authorization_code", code=params["code"]).status_code == 400


def test_client_credentials_only_in_the_basic_header(bling: RunningSandbox, http: requests.Session) -> None:
    _, params = redirect_params(authorize(bling, http))
    form = {"grant_type": "authorization_code", "code": params["code"]}
    in_body = token(bling, http, auth=None, client_id=CLIENT[0], client_secret=CLIENT[1], **form)
    assert in_body.status_code == 400 and error_of(in_body)["type"] == "invalid_request"
    both = token(bling, http, client_id=CLIENT[0], client_secret=CLIENT[1], **form)
    assert both.status_code == 400 and error_of(both)["type"] == "invalid_request"
    wrong = token(bling, http, auth=(CLIENT[0], "nope"), **form)
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": {
            "type": "invalid_client",
            "message": "invalid_client",
            "description": "The client credentials are invalid",
        }
    }
    assert token(bling, http, auth=None, **form).status_code == 401
    as_json = http.post(bling.base_url + "/oauth/token", json=form, auth=CLIENT, timeout=10)
    assert as_json.status_code == 400 and error_of(as_json)["type"] == "invalid_request"
    other = token(bling, http, grant_type="client_credentials")
    assert other.status_code == 400 and error_of(other)["type"] == "unsupported_grant_type"
    assert token(bling, http, **form).status_code == 200  # the code survived the refused attempts
    bling.configure(token_credentials_in_body=True)
    _, params = redirect_params(authorize(bling, http))
    lenient = token(bling, http, auth=None, client_id=CLIENT[0], client_secret=CLIENT[1], grant_type="authorization_code", code=params["code"])  # fmt: skip
    assert lenient.status_code == 200


def test_bearer_token_errors(bling: RunningSandbox, http: requests.Session) -> None:
    invalid = {
        "type": "invalid_token",
        "message": "invalid_token",
        "description": "The access token provided is invalid",
    }
    assert http.get(bling.base_url + "/produtos", timeout=10).json() == {"error": invalid}
    unknown = api(bling, http, "f" * 40, "/produtos")
    assert unknown.status_code == 401 and unknown.json() == {"error": invalid}
    malformed = http.get(bling.base_url + "/produtos", headers={"Authorization": "Token abc def"}, timeout=10)
    assert malformed.status_code == 400
    assert malformed.json() == {
        "error": {"type": "invalid_request", "message": "invalid_request", "description": "Malformed auth header"}
    }
    pair = grant(bling)
    assert admin(bling, "expire-access-tokens", company="loja-matriz") == {"expired": 1}
    expired = api(bling, http, pair["access_token"], "/produtos")
    assert expired.status_code == 401 and bling.requests()[-1]["company"] == "loja-matriz"
    assert error_of(expired) == {**invalid, "description": "The access token provided has expired"}
    fresh = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    assert api(bling, http, fresh["access_token"], "/produtos").status_code == 200
    assert admin(bling, "revoke", company="loja-matriz") == {"revoked": 1}
    assert token(bling, http, grant_type="refresh_token", refresh_token=fresh["refresh_token"]).status_code == 400
    bling.configure(access_token_ttl_seconds=0)
    short = grant(bling)
    assert short["expires_in"] == 0 and api(bling, http, short["access_token"], "/produtos").status_code == 401


def test_refresh_grace_and_revoke_endpoint(bling: RunningSandbox, http: requests.Session) -> None:
    bling.configure(refresh_grace_seconds=100)
    pair = grant(bling)
    first = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    again = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert first.status_code == again.status_code == 200
    admin(bling, "advance-clock", seconds=101)
    assert token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 400
    latest = again.json()
    revoked = http.post(bling.base_url + "/oauth/revoke", data={"token": latest["refresh_token"], "token_type_hint": "refresh_token"}, auth=CLIENT, timeout=10)  # fmt: skip
    assert revoked.status_code == 200
    assert api(bling, http, latest["access_token"], "/produtos").status_code == 401  # the whole chain
    assert api(bling, http, first.json()["access_token"], "/produtos").status_code == 401
    other = grant(bling)
    alias = http.post(bling.url + "/oauth/revoke", data={"token": other["access_token"], "revoke_target": "company"}, auth=CLIENT, timeout=10)  # fmt: skip
    assert alias.status_code == 200
    assert token(bling, http, grant_type="refresh_token", refresh_token=other["refresh_token"]).status_code == 400


# --- limits ---------------------------------------------------------------------------------------------------
def test_three_requests_per_second_per_company(bling: RunningSandbox, http: requests.Session) -> None:
    bling.configure(rate_limit=3, rate_window_seconds=30)  # a long window: no race with the clock
    matriz, filial = grant(bling)["access_token"], grant(bling, "loja-filial")["access_token"]
    answers = [api(bling, http, matriz, "/depositos") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json() == {"error": PER_SECOND}
    assert "Retry-After" not in answers[-1].headers
    assert not any("RateLimit" in h for a in answers for h in a.headers)  # Bling documents no rate headers
    assert [api(bling, http, filial, "/depositos").status_code for _ in range(3)] == [200, 200, 200]
    assert token(bling, http, grant_type="refresh_token", refresh_token=grant(bling)["refresh_token"]).ok
    assert bling.stats()["rate_limited"] == 1
    bling.reset_limits()
    assert api(bling, http, matriz, "/depositos").status_code == 200


def test_daily_quota_per_company(bling: RunningSandbox, http: requests.Session) -> None:
    bling.configure(daily_quota=2)
    matriz = grant(bling)["access_token"]
    assert [api(bling, http, matriz, "/depositos").status_code for _ in range(3)] == [200, 200, 429]
    body = api(bling, http, matriz, "/depositos").json()
    assert body["error"]["limit"] == 2 and body["error"]["period"] == "day"
    assert body["error"]["type"] == "TOO_MANY_REQUESTS" and "amanhã" in body["error"]["description"]
    assert api(bling, http, grant(bling, "loja-filial")["access_token"], "/depositos").status_code == 200
    assert bling.stats()["companies"] == {
        "loja-matriz": {"quota_used_today": 2},
        "loja-filial": {"quota_used_today": 1},
    }


def test_token_endpoint_blocks_an_ip_after_too_many_requests(bling: RunningSandbox, http: requests.Session) -> None:
    bling.configure(token_rate_limit=3)
    pair = grant(bling)
    statuses = [token(bling, http, grant_type="refresh_token", refresh_token="nope").status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    blocked = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert blocked.status_code == 429 and error_of(blocked)["type"] == "TOO_MANY_REQUESTS"
    assert token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 429
    elsewhere = http.post(bling.base_url + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, auth=CLIENT, headers={"X-Forwarded-For": "10.0.0.7"}, timeout=10)  # fmt: skip
    assert elsewhere.status_code == 200
    assert (
        api(bling, http, elsewhere.json()["access_token"], "/depositos").status_code == 200
    )  # only the token endpoint
    assert "127.0.0.1" in http.get(bling.url + "/_sandbox/bling/tokens", timeout=10).json()["blocked_ips"]
    admin(bling, "advance-clock", seconds=3601)
    fresh = grant(bling)
    assert token(bling, http, grant_type="refresh_token", refresh_token=fresh["refresh_token"]).status_code == 200
    assert any(e["fault"] == "ip_blocked" for e in bling.requests())


# --- lists, filters, envelopes ------------------------------------------------------------------------------------
def test_paging_ends_with_an_empty_data_list(shared: RunningSandbox, http: requests.Session) -> None:
    access = grant(shared)["access_token"]
    everything = pages(shared, http, access, "/produtos", limite=50, criterio=5)
    ids = [row["id"] for row in everything]
    assert len(ids) == len(set(ids)) == 120 and ids == sorted(ids, reverse=True)
    assert api(shared, http, access, "/produtos", criterio=5, pagina=99).json() == {"data": []}
    first = api(shared, http, access, "/produtos", criterio=5).json()
    assert set(first) == {"data"} and len(first["data"]) == 100
    assert len(api(shared, http, access, "/produtos", criterio=5, limite=500).json()["data"]) == 100
    assert api(shared, http, access, "/produtos", limite=0).status_code == 400


def test_limite_over_100_is_a_400_when_switched(bling: RunningSandbox, http: requests.Session) -> None:
    bling.configure(limite_over_max="error")
    response = api(bling, http, grant(bling)["access_token"], "/produtos", limite=101)
    assert response.status_code == 400 and error_of(response)["type"] == "VALIDATION_ERROR"


def test_date_ranges_over_one_year_are_refused(shared: RunningSandbox, http: requests.Session) -> None:
    access = grant(shared)["access_token"]
    for path in ("/produtos", "/contatos", "/pedidos/vendas"):
        wide = api(shared, http, access, path, dataAlteracaoInicial="2025-01-01 00:00:00", dataAlteracaoFinal="2026-01-01 00:00:01")  # fmt: skip
        assert wide.status_code == 400 and error_of(wide)["type"] == "VALIDATION_ERROR", path
        assert error_of(wide)["fields"][0]["element"] == "dataAlteracaoInicial"
        year = api(shared, http, access, path, dataAlteracaoInicial="2025-01-01 00:00:00", dataAlteracaoFinal="2026-01-01 00:00:00")  # fmt: skip
        assert year.status_code == 200, path
    wide_orders = api(shared, http, access, "/pedidos/vendas", dataInicial="2025-01-01", dataFinal="2026-01-02")
    assert wide_orders.status_code == 400
    year_of_orders = api(shared, http, access, "/pedidos/vendas", dataInicial="2025-01-01", dataFinal="2026-01-01")
    days = {row["data"] for row in year_of_orders.json()["data"]}
    assert year_of_orders.status_code == 200 and days and max(days) <= "2026-01-01"
    assert api(shared, http, access, "/produtos", dataAlteracaoInicial="01/02/2026").status_code == 400
    lone = api(shared, http, access, "/produtos", dataAlteracaoInicial="2020-01-01")
    assert lone.status_code == 200 and lone.json()["data"]


def test_saldos_require_product_ids(shared: RunningSandbox, http: requests.Session) -> None:
    access = grant(shared)["access_token"]
    missing = api(shared, http, access, "/estoques/saldos")
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {
            "type": "VALIDATION_ERROR",
            "message": "Não foi possível obter o saldo em estoque",
            "description": "O saldo em estoque não pode ser obtido, pois nenhum produto foi informado.",
        }
    }
    assert api(shared, http, access, "/produtos/lotes").status_code == 400
    products = api(shared, http, access, "/produtos", tipo="PS", limite=3).json()["data"]
    ids = [p["id"] for p in products]
    rows = api(shared, http, access, "/estoques/saldos", **{"idsProdutos[]": ids}).json()["data"]
    assert [r["produto"]["id"] for r in rows] == ids
    for row, product in zip(rows, products, strict=True):
        assert row["produto"]["codigo"] == product["codigo"]
        assert row["saldoVirtualTotal"] == product["estoque"]["saldoVirtualTotal"]
        assert row["saldoFisicoTotal"] == sum(d["saldoFisico"] for d in row["depositos"])
    deposit = api(shared, http, access, "/depositos").json()["data"][0]["id"]
    per_deposit = api(shared, http, access, f"/estoques/saldos/{deposit}", **{"idsProdutos[]": ids}).json()["data"]
    assert set(per_deposit[0]) == {"produto", "saldoFisicoTotal", "saldoVirtualTotal"}
    assert api(shared, http, access, "/estoques/saldos/123", **{"idsProdutos[]": ids}).status_code == 404


def test_post_estoques_balance_entry_and_exit(bling: RunningSandbox, http: requests.Session) -> None:
    access = grant(bling)["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    product = api(bling, http, access, "/produtos", tipo="PS", limite=1).json()["data"][0]
    deposits = api(bling, http, access, "/depositos").json()["data"]
    deposit = next(d for d in deposits if d["padrao"])

    def balance() -> tuple[float, float]:
        row = api(bling, http, access, f"/estoques/saldos/{deposit['id']}", **{"idsProdutos[]": product["id"]})
        data = row.json()["data"][0]
        return data["saldoFisicoTotal"], data["saldoVirtualTotal"]

    physical, virtual = balance()
    reserved = physical - virtual
    seen = []
    for operation, quantity in (("B", 10), ("E", 5), ("S", 3)):
        body = {"produto": {"id": product["id"]}, "deposito": {"id": deposit["id"]}, "operacao": operation, "quantidade": quantity, "preco": 12.5, "observacoes": "teste"}  # fmt: skip
        posted = http.post(bling.base_url + "/estoques", json=body, headers=headers, timeout=10)
        assert posted.status_code == 201 and isinstance(posted.json()["data"]["id"], int)
        seen.append(balance())
    assert seen == [(10, 10 - reserved), (15, 15 - reserved), (12, 12 - reserved)]
    totals = api(bling, http, access, "/estoques/saldos", **{"idsProdutos[]": product["id"]}).json()["data"][0]
    assert next(d for d in totals["depositos"] if d["id"] == deposit["id"])["saldoFisico"] == 12
    detail = api(bling, http, access, f"/produtos/{product['id']}").json()["data"]
    assert detail["estoque"]["saldoVirtualTotal"] == totals["saldoVirtualTotal"]

    kit = api(bling, http, access, "/produtos", tipo="E", limite=1).json()["data"][0]
    refused = http.post(bling.base_url + "/estoques", json={"produto": {"id": kit["id"]}, "deposito": {"id": deposit["id"]}, "operacao": "E", "quantidade": 1}, headers=headers, timeout=10)  # fmt: skip
    assert refused.status_code == 400 and error_of(refused)["type"] == "VALIDATION_ERROR"
    assert error_of(refused)["fields"][0]["element"] == "produto"
    bad = http.post(bling.base_url + "/estoques", json={"produto": {"id": product["id"]}, "deposito": {"id": deposit["id"]}, "operacao": "X"}, headers=headers, timeout=10)  # fmt: skip
    assert {f["element"] for f in error_of(bad)["fields"]} == {"operacao", "quantidade"}
    empty = http.post(bling.base_url + "/estoques", data=b"", headers=headers, timeout=10)
    assert empty.status_code == 400 and error_of(empty)["type"] == "MISSING_REQUIRED_FIELD_ERROR"


def test_touch_moves_a_record_into_the_change_window(bling: RunningSandbox, http: requests.Session) -> None:
    bling.configure(now="2026-07-01T12:00:00-03:00")  # frozen (default: the real clock)
    access = grant(bling)["access_token"]
    window = {"dataAlteracaoInicial": "2026-07-01 00:00:00", "dataAlteracaoFinal": "2026-07-01 23:59:59"}
    for resource, path in (("produtos", "/produtos"), ("contatos", "/contatos"), ("pedidos", "/pedidos/vendas")):
        assert api(bling, http, access, path, **window).json() == {"data": []}, path
        oldest = pages(bling, http, access, path)[-1]
        changes = {"produtos": {"preco": 99.9}, "contatos": {"nome": "Nome Trocado"}, "pedidos": {"observacoes": "alterado"}}[resource]  # fmt: skip
        record = admin(bling, "touch", company="loja-matriz", resource=resource, id=oldest["id"], changes=changes)
        assert record["id"] == oldest["id"] and all(record[k] == v for k, v in changes.items())
        found = api(bling, http, access, path, **window).json()["data"]
        assert [row["id"] for row in found] == [oldest["id"]], path
        exact = api(bling, http, access, path, dataAlteracaoInicial="2026-07-01 12:00:00", dataAlteracaoFinal="2026-07-01 12:00:00")  # fmt: skip
        assert [row["id"] for row in exact.json()["data"]] == [oldest["id"]], "bounds are inclusive"
        assert "dataAlteracao" not in json.dumps(found)
    filial = grant(bling, "loja-filial")["access_token"]
    assert api(bling, http, filial, "/produtos", **window).json() == {"data": []}


def test_two_companies_see_different_data(shared: RunningSandbox, http: requests.Session) -> None:
    matriz, filial = grant(shared)["access_token"], grant(shared, "loja-filial")["access_token"]
    me = [api(shared, http, t, "/empresas/me/dados-basicos").json()["data"] for t in (matriz, filial)]
    assert me[0]["id"] != me[1]["id"] and me[0]["cnpj"] != me[1]["cnpj"]
    for path in ("/produtos", "/depositos", "/contatos", "/pedidos/vendas", "/ordens-producao"):
        ids = [{row["id"] for row in pages(shared, http, t, path, criterio=5 if path == "/produtos" else 1)} for t in (matriz, filial)]  # fmt: skip
        assert ids[0] and ids[1] and not ids[0] & ids[1], path
        assert all(10**10 <= i < 10**11 for i in ids[0]), path
    product = api(shared, http, matriz, "/produtos", limite=1).json()["data"][0]["id"]
    assert api(shared, http, matriz, f"/produtos/{product}").status_code == 200
    other = api(shared, http, filial, f"/produtos/{product}")
    assert other.status_code == 404 and error_of(other)["type"] == "RESOURCE_NOT_FOUND"


def test_catalogue_is_realistic_and_shapes_follow_the_spec(shared: RunningSandbox, http: requests.Session) -> None:
    access = grant(shared)["access_token"]
    listed = pages(shared, http, access, "/produtos", criterio=5)
    list_keys = {"id", "nome", "codigo", "preco", "precoCusto", "estoque", "tipo", "situacao", "formato", "descricaoCurta", "imagemURL"}  # fmt: skip
    assert all(set(row) - {"idProdutoPai"} == list_keys for row in listed)
    by_id = {row["id"]: row for row in listed}
    children = [row for row in listed if "idProdutoPai" in row]
    assert children and all(by_id[row["idProdutoPai"]]["formato"] == "V" for row in children)
    assert {row["formato"] for row in listed} == {"S", "V", "E"} and any(row["tipo"] == "S" for row in listed)
    assert all(round(row["preco"], 2) == row["preco"] for row in listed)
    kit = api(shared, http, access, f"/produtos/{next(r['id'] for r in listed if r['formato'] == 'E')}").json()["data"]
    assert kit["estrutura"]["componentes"] and all(c["produto"]["id"] in by_id for c in kit["estrutura"]["componentes"])
    parent = next(r for r in listed if r["formato"] == "V")
    variations = api(shared, http, access, f"/produtos/{parent['id']}").json()["data"]["variacoes"]
    assert variations and all(v["variacao"]["produtoPai"]["id"] == parent["id"] for v in variations)
    simple = api(shared, http, access, f"/produtos/{next(r['id'] for r in listed if r['formato'] == 'S' and r['tipo'] == 'P')}").json()["data"]  # fmt: skip
    assert gtin_ok(simple["gtin"]) and re.match(r"^\d{4}\.\d{2}\.\d{2}$", simple["tributacao"]["ncm"])
    assert simple["unidade"] in ("UN", "PAR", "KIT") and simple["marca"]
    contacts = pages(shared, http, access, "/contatos", criterio=1)
    documents = [c["numeroDocumento"] for c in contacts if c["numeroDocumento"]]
    assert any(len(d) == 14 for d in documents) and any(len(d) == 18 for d in documents)
    assert all(cpf_ok(d) if len(d) == 14 else cnpj_ok(d) for d in documents)
    order = api(shared, http, access, "/pedidos/vendas", limite=1).json()["data"][0]
    detail = api(shared, http, access, f"/pedidos/vendas/{order['id']}").json()["data"]
    assert detail["itens"] and detail["parcelas"] and {k: detail[k] for k in order} == order
    assert round(sum(p["valor"] for p in detail["parcelas"]), 2) == detail["total"]


def test_filters_select_what_the_docs_say(shared: RunningSandbox, http: requests.Session) -> None:
    access = grant(shared)["access_token"]
    everything = {r["id"]: r for r in pages(shared, http, access, "/produtos", criterio=5)}
    default = {r["id"] for r in pages(shared, http, access, "/produtos")}
    excluded = {r["id"] for r in pages(shared, http, access, "/produtos", criterio=4)}
    assert excluded and default | excluded == set(everything) and not default & excluded
    assert all(r["situacao"] == "A" for r in pages(shared, http, access, "/produtos", criterio=2))
    assert all(r["situacao"] == "I" for r in pages(shared, http, access, "/produtos", criterio=3))
    assert all("idProdutoPai" in r for r in pages(shared, http, access, "/produtos", tipo="V", criterio=5))
    assert {r["formato"] for r in pages(shared, http, access, "/produtos", tipo="E", criterio=5)} == {"E"}
    some = list(everything.values())[:3]
    by_ids = api(shared, http, access, "/produtos", criterio=5, **{"idsProdutos[]": [r["id"] for r in some]})
    assert {r["id"] for r in by_ids.json()["data"]} == {r["id"] for r in some}
    by_code = api(shared, http, access, "/produtos", criterio=5, **{"codigos[]": some[0]["codigo"]}).json()["data"]
    assert [r["id"] for r in by_code] == [some[0]["id"]]
    positive = pages(shared, http, access, "/produtos", criterio=5, filtroSaldoEstoque=1)
    zero = pages(shared, http, access, "/produtos", criterio=5, filtroSaldoEstoque=0)
    assert positive and zero and all(r["estoque"]["saldoVirtualTotal"] > 0 for r in positive)
    assert all(r["estoque"]["saldoVirtualTotal"] == 0 for r in zero)
    deposits = api(shared, http, access, "/depositos").json()["data"]
    assert len(deposits) == 3 and sum(d["padrao"] for d in deposits) == 1 and {d["situacao"] for d in deposits} == {1}
    inactive = api(shared, http, access, "/depositos", situacao=0).json()["data"]
    assert len(inactive) == 1 and inactive[0]["situacao"] == 0
    situations = {o["situacao"]["id"] for o in pages(shared, http, access, "/pedidos/vendas")}
    chosen = sorted(situations)[0]
    picked = pages(shared, http, access, "/pedidos/vendas", **{"idsSituacoes[]": chosen})
    assert picked and {o["situacao"]["id"] for o in picked} == {chosen}
    lot_product = next(r for r in everything.values() if r["codigo"].startswith(("BEL", "PET", "MER")) and "idProdutoPai" not in r)  # fmt: skip
    lots = api(shared, http, access, "/produtos/lotes", **{"idsProdutos[]": lot_product["id"]}).json()["data"]
    assert lots and all(lot["produto"]["id"] == lot_product["id"] for lot in lots)
    assert set(lots[0]) == {"idLote", "codigoLote", "dataFabricacao", "dataValidade", "diasPermitidoVenda", "codigoAgregacao", "produto", "deposito", "status"}  # fmt: skip


def test_default_switches_and_guesses(bling: RunningSandbox, http: requests.Session) -> None:
    access = grant(bling)["access_token"]
    bling.configure(depositos_default_active=False, saldo_filter_default_applies=True, empty_date="null")
    assert len(api(bling, http, access, "/depositos").json()["data"]) == 4
    listed = pages(bling, http, access, "/produtos", criterio=5)
    assert listed and all(r["estoque"]["saldoVirtualTotal"] > 0 for r in listed)
    orders = pages(bling, http, access, "/pedidos/vendas")
    assert any(o["dataSaida"] is None for o in orders) and "0000-00-00" not in json.dumps(orders)
    bling.configure(max_ids_per_request=2)
    ids = [r["id"] for r in listed[:3]]
    assert api(bling, http, access, "/estoques/saldos", **{"idsProdutos[]": ids}).status_code == 400
    assert api(bling, http, access, "/estoques/saldos", **{"idsProdutos[]": ids[:2]}).status_code == 200


def test_unknown_routes_methods_and_injected_faults(bling: RunningSandbox, http: requests.Session) -> None:
    access = grant(bling)["access_token"]
    for path in ("/nada", "/produtos/abc"):
        missing = api(bling, http, access, path)
        assert missing.status_code == 404 and error_of(missing)["type"] == "RESOURCE_NOT_FOUND"
    assert http.get(bling.url + "/", timeout=10).status_code == 404
    wrong = http.delete(bling.base_url + "/produtos", headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert wrong.status_code == 405 and error_of(wrong)["type"] == "METHOD_NOT_ALLOWED"
    bling.configure(fail_next=1)
    assert token(bling, http, grant_type="refresh_token", refresh_token=grant(bling)["refresh_token"]).ok
    failed = api(bling, http, access, "/depositos")
    assert failed.status_code == 503 and error_of(failed)["type"] == "SERVER_ERROR"
    assert api(bling, http, access, "/depositos").status_code == 200


def test_request_log_names_the_company_and_hides_secrets(bling: RunningSandbox, http: requests.Session) -> None:
    _, params = redirect_params(authorize(bling, http, sandbox_company="loja-filial"))
    pair = token(bling, http, grant_type="authorization_code", code=params["code"]).json()
    refreshed = token(bling, http, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    api(bling, http, refreshed["access_token"], "/produtos", limite=1)
    token(bling, http, auth=None, client_id=CLIENT[0], client_secret=CLIENT[1], grant_type="refresh_token", refresh_token=refreshed["refresh_token"])  # fmt: skip
    log = http.get(bling.url + "/_sandbox/requests", timeout=10).json()
    text = json.dumps(log)
    for secret in (CLIENT[1], params["code"], pair["access_token"], pair["refresh_token"], refreshed["access_token"]):
        assert secret not in text
    assert [e["company"] for e in log[:3]] == ["loja-filial"] * 3
    resource = log[3]
    assert resource["path"] == "/Api/v3/produtos" and resource["company"] == "loja-filial"
    assert resource["auth"] == f"Bearer {refreshed['access_token'][:4]}…" and resource["query"] == {"limite": ["1"]}
    assert log[1]["form"]["grant_type"] == "authorization_code" and log[2]["auth"] == "Basic sandbox-client-id:***"


def test_records_validate_against_the_tap_schemas(shared: RunningSandbox, http: requests.Session) -> None:
    from ponte.declaration import stream_schemas as schemas

    spec = YAML(typ="safe", pure=True).load((REPO / "taps" / "bling.yml").read_text(encoding="utf-8"))
    access = grant(shared)["access_token"]
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    product_ids = [r["id"] for r in api(shared, http, access, "/produtos", criterio=5).json()["data"]]
    deposit = api(shared, http, access, "/depositos").json()["data"][0]["id"]
    order = api(shared, http, access, "/pedidos/vendas").json()["data"][0]["id"]
    production = api(shared, http, access, "/ordens-producao").json()["data"][0]["id"]
    details = {"/produtos": f"/produtos/{product_ids[0]}", "/pedidos/vendas": f"/pedidos/vendas/{order}", "/ordens-producao": f"/ordens-producao/{production}"}  # fmt: skip
    for stream in spec["streams"]:
        schema = schemas.resolve_schema(stream["schema"], REPO / "taps", "data", stream["name"])
        validator = jsonschema.Draft7Validator(schema, format_checker=checker)
        path = stream["path"].replace("{{ parent.id }}", str(deposit))
        params = {**(stream.get("params") or {}), "idsProdutos[]": product_ids}
        body = api(shared, http, access, path, **params).json()["data"]
        rows = body if isinstance(body, list) else [body]
        if stream["path"] in details:
            rows.append(api(shared, http, access, details[stream["path"]]).json()["data"])
        assert rows, stream["name"]
        for row in rows:
            for error in validator.iter_errors(row):
                assert error.instance == "0000-00-00", (stream["name"], error.message)  # the empty-date quirk


def test_touch_uses_the_real_clock_by_default(bling: RunningSandbox, http: requests.Session) -> None:
    access = grant(bling)["access_token"]
    before = dt.datetime.now(dt.timezone(dt.timedelta(hours=-3))).replace(microsecond=0, tzinfo=None)
    admin(bling, "touch", resource="contatos", changes={"celular": "(48) 99999-0000"})
    since = {"dataAlteracaoInicial": before.strftime("%Y-%m-%d %H:%M:%S")}
    found = api(bling, http, access, "/contatos", criterio=1, **since).json()["data"]
    assert [row["celular"] for row in found] == ["(48) 99999-0000"]


def test_same_seed_gives_the_same_data() -> None:
    def fetch(seed: int) -> list[bytes]:
        app = BlingApp(companies=2, products=40, contacts=20, orders=30, seed=seed, switches={"rate_limit": 0})
        with run_in_thread(app) as running, requests.Session() as session:
            access = grant(running, "loja-filial")["access_token"]
            paths = ["/produtos?criterio=5", "/contatos?criterio=1", "/pedidos/vendas", "/empresas/me/dados-basicos"]
            return [api(running, session, access, p).content for p in paths]

    assert fetch(5) == fetch(5)
    assert fetch(5) != fetch(6)


# --- command line ---------------------------------------------------------------------------------------------
def test_every_guess_is_a_flagged_switch_in_the_cli_help() -> None:
    result = CliRunner().invoke(sandbox_cli, ["bling", "--help"], terminal_width=400)
    assert result.exit_code == 0
    command = sandbox_cli.commands["bling"]
    by_name = {p.name: p for p in command.params}
    guesses = {s.name for s in BLING_OVERRIDES + BLING_SWITCHES if s.guess}
    assert {"refresh_grace_seconds", "saldo_filter_default_applies", "limite_over_max", "token_block_status", "rate_headers", "max_ids_per_request"} <= guesses  # fmt: skip
    for name in guesses - {"max_ids_per_request"}:  # null-default switches are set with --set only
        assert by_name[name].help.endswith("(guess)"), name
    assert not by_name["code_ttl_seconds"].help.endswith("(guess)")
    for flag in ("--companies", "--products", "--client-id", "--client-secret", "--redirect-uri", "--rate-limit"):
        assert flag in result.output
    assert "[default: 3]" in by_name["rate_limit"].help
