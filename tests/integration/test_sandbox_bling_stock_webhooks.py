"""The Bling sandbox's stock webhooks and multi-account stock data (issue #17): what a sync engine relies on.

One sandbox with three accounts (started like `ponte sandbox bling --companies 3 --webhook-url ...`) and a
tiny local receiver per module; each test sets the switches it needs and the fixture puts them back.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from ponte.testing.in_process import SandboxThread

SECRET = "sandbox-client-secret"
PRINCIPAL, SHARED = "Depósito Geral", "Estoque Compartilhado (marketplaces)"
WEBHOOK_DEFAULTS = {
    "webhooks": True,
    "webhook_delay_ms": 0,
    "webhook_duplicate_rate": 0.0,
    "webhook_reorder_window": 0,
    "webhook_retry_first_seconds": 60.0,
    "webhook_time_scale": 1.0,
}


class Receiver:
    """Records every POST (headers, raw body, arrival time); answers `fail_first` failures per eventId first."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.fail_first = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                event = json.loads(raw)
                with receiver.cond:
                    tries = sum(1 for r in receiver.received if r["event"]["eventId"] == event["eventId"])
                    status = 500 if tries < receiver.fail_first else 200
                    receiver.received.append({"headers": dict(self.headers), "raw": raw, "event": event,
                                              "at": time.monotonic(), "status": status})  # fmt: skip
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/bling"

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not done(self.received):
                left = deadline - time.monotonic()
                assert left > 0, f"receiver got only {[r['event']['event'] for r in self.received]}"
                self.cond.wait(left)
            return list(self.received)

    def events(self, ids: list[str], count: int | None = None) -> list[dict[str, Any]]:
        """The 2xx-answered deliveries of these eventIds once `count` (default: one each) arrived, in arrival order."""
        wanted = set(ids)
        need = len(ids) if count is None else count

        def picked(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [r for r in got if r["event"]["eventId"] in wanted and r["status"] == 200]

        return picked(self.wait_for(lambda got: len(picked(got)) >= need))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver) -> Iterator[SandboxThread]:
    args = ("--companies", "3", "--products", "60", "--contacts", "10", "--orders", "10", "--rate-limit", "0")
    running = SandboxThread.start("bling", *args, "--webhook-url", receiver.url)
    yield running
    running.stop()


@pytest.fixture
def sb(sandbox: SandboxThread, receiver: Receiver) -> Iterator[SandboxThread]:
    """The module's sandbox with the webhook switches at their defaults again after each test."""
    yield sandbox
    receiver.fail_first = 0
    sandbox.app.configure(**WEBHOOK_DEFAULTS, webhook_url=receiver.url)
    assert sandbox.app.webhooks.wait_idle(10)


class Account:
    """One account seen through its own token."""

    def __init__(self, sb: SandboxThread, slug: str) -> None:
        self.sb, self.slug = sb, slug
        grant = requests.post(sb.url + "/_sandbox/bling/grant", json={"company": slug}, timeout=10).json()
        self.headers = {"Authorization": f"Bearer {grant['access_token']}"}
        info = requests.get(sb.url + "/_sandbox/bling/info", timeout=10).json()
        self.company_id = next(c["id"] for c in info["companies"] if c["slug"] == slug)

    def get(self, path: str, **params: Any) -> Any:
        answer = requests.get(self.sb.base_url + path, params=params, headers=self.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def post_stock(self, product: int, deposit: int, operacao: str, quantidade: float) -> requests.Response:
        body = {"produto": {"id": product}, "deposito": {"id": deposit}, "operacao": operacao, "quantidade": quantidade}
        return requests.post(self.sb.base_url + "/estoques", json=body, headers=self.headers, timeout=10)

    def deposit(self, name: str) -> int:
        return next(d["id"] for d in self.get("/depositos") if d["descricao"] == name)

    def product(self, codigo: str) -> dict[str, Any]:
        return self.get("/produtos", **{"codigos[]": codigo, "criterio": 5})[0]

    def balance(self, product: int, deposit: int) -> float:
        return self.get(f"/estoques/saldos/{deposit}", **{"idsProdutos[]": product})[0]["saldoFisicoTotal"]


def shared_simple(sb: SandboxThread) -> str:
    """A simple product's SKU that every account carries and no kit uses (two events per posting)."""
    accounts = list(sb.app.accounts.values())
    codes = [{r.data["codigo"]: r for r in a.catalog.products if not r.excluded} for a in accounts]
    for code, rec in sorted(codes[0].items()):
        simple = rec.data["formato"] == "S" and rec.data["tipo"] == "P" and all(code in c for c in codes)
        if simple and not any(a.stock.kits_with(c[code].id) for a, c in zip(accounts, codes, strict=True)):
            return code
    raise AssertionError("no shared simple SKU")


def signed(delivery: dict[str, Any]) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery["raw"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(delivery["headers"]["X-Bling-Signature-256"], expected)


# --- data layout ----------------------------------------------------------------------------------------------
def test_accounts_share_skus_with_their_own_ids_and_deposits(sb: SandboxThread) -> None:
    matriz, filial, third = (Account(sb, slug) for slug in ("loja-matriz", "loja-filial", "loja-3"))
    code = shared_simple(sb)
    ids = {a.slug: a.product(code)["id"] for a in (matriz, filial, third)}
    assert len(set(ids.values())) == 3  # same codigo, an id per account
    for account in (matriz, filial, third):
        deposits = account.get("/depositos")
        assert [d["descricao"] for d in deposits if d["padrao"]] == [PRINCIPAL]
        assert SHARED in {d["descricao"] for d in deposits}
    own = [
        r.data["codigo"] for r in sb.app.accounts["loja-filial"].catalog.products if r.data["codigo"].endswith("-L2")
    ]
    assert own and matriz.get("/produtos", **{"codigos[]": own[0], "criterio": 5}) == []
    kits = matriz.get("/produtos", tipo="E")
    assert kits and all(k["formato"] == "E" for k in kits)


# --- postings -------------------------------------------------------------------------------------------------
def test_a_posting_sends_signed_stock_events_with_the_new_balances(sb: SandboxThread, receiver: Receiver) -> None:
    filial = Account(sb, "loja-filial")
    product, deposit = filial.product(shared_simple(sb))["id"], filial.deposit(SHARED)
    posted = filial.post_stock(product, deposit, "B", 37)
    assert posted.status_code == 201
    assert filial.balance(product, deposit) == 37  # read back at once
    log = [e for e in requests.get(sb.url + "/_sandbox/requests", timeout=10).json() if e["method"] == "POST"]
    assert log[-1]["company"] == "loja-filial" and log[-1]["body"]["quantidade"] == 37  # the request log has it

    def mine(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in got if r["event"]["data"]["produto"]["id"] == product]

    deliveries = mine(receiver.wait_for(lambda got: len(mine(got)) >= 2))
    assert [d["event"]["event"] for d in deliveries] == ["stock.created", "virtual_stock.updated"]
    assert all(signed(d) for d in deliveries)
    stock, virtual = (d["event"] for d in deliveries)
    assert stock["companyId"] == filial.company_id and stock["version"] == "v1"
    totals = filial.get("/estoques/saldos", **{"idsProdutos[]": product})[0]
    assert stock["data"]["deposito"] == {"id": deposit, "saldoFisico": 37, "saldoVirtual": 37}
    assert (stock["data"]["operacao"], stock["data"]["quantidade"]) == ("B", 37)
    assert stock["data"]["saldoFisicoTotal"] == totals["saldoFisicoTotal"]
    assert virtual["data"]["depositos"] == totals["depositos"] and virtual["data"]["vinculoComplexo"] is False


def test_composites_and_unknown_references_are_refused_with_the_envelope(sb: SandboxThread) -> None:
    matriz = Account(sb, "loja-matriz")
    deposit = matriz.deposit(PRINCIPAL)
    before = requests.get(sb.url + "/_sandbox/bling/webhooks", timeout=10).json()["queued"]
    kit = matriz.get("/produtos", tipo="E")[0]
    refused = matriz.post_stock(kit["id"], deposit, "B", 5)
    error = refused.json()["error"]
    assert refused.status_code == 400 and error["type"] == "VALIDATION_ERROR"
    assert error["fields"][0]["element"] == "produto" and "composição" in error["fields"][0]["msg"]
    unknown = matriz.post_stock(1, 2, "B", 5).json()["error"]
    assert {f["element"] for f in unknown["fields"]} == {"produto", "deposito"}
    assert requests.get(sb.url + "/_sandbox/bling/webhooks", timeout=10).json()["queued"] == before


def test_a_simulated_sale_lowers_the_balance_and_sends_its_events(sb: SandboxThread, receiver: Receiver) -> None:
    third = Account(sb, "loja-3")
    code = shared_simple(sb)
    product, deposit = third.product(code)["id"], third.deposit(PRINCIPAL)
    assert third.post_stock(product, deposit, "B", 20).status_code == 201
    sale = requests.post(sb.url + "/_sandbox/bling/simulate-sale",
                         json={"company": "loja-3", "codigo": code, "quantidade": 3}, timeout=10)  # fmt: skip
    assert sale.status_code == 200, sale.text
    assert third.balance(product, deposit) == 17
    stock = receiver.events(sale.json()["events"])[0]["event"]
    assert stock["event"] == "stock.created" and stock["companyId"] == third.company_id
    assert stock["data"]["operacao"] == "S" and stock["data"]["deposito"]["saldoFisico"] == 17
    unknown = requests.post(sb.url + "/_sandbox/bling/simulate-sale", json={"company": "loja-3", "codigo": "NOPE"}, timeout=10)  # fmt: skip
    assert unknown.status_code == 400 and "NOPE" in unknown.json()["message"]


# --- switches -------------------------------------------------------------------------------------------------
def sale(sb: SandboxThread, code: str, company: str = "loja-matriz") -> list[str]:
    answer = requests.post(sb.url + "/_sandbox/bling/simulate-sale", json={"company": company, "codigo": code}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def test_duplicates_switch_delivers_each_event_twice(sb: SandboxThread, receiver: Receiver) -> None:
    sb.configure(webhook_duplicate_rate=1.0)
    ids = sale(sb, shared_simple(sb))
    got = receiver.events(ids, count=2 * len(ids))
    assert sorted(r["event"]["eventId"] for r in got) == sorted(ids * 2)
    assert got[0]["raw"] == next(r["raw"] for r in got[1:] if r["event"]["eventId"] == got[0]["event"]["eventId"])


def test_webhooks_off_sends_nothing_until_switched_on(sb: SandboxThread, receiver: Receiver) -> None:
    code = shared_simple(sb)
    sb.configure(webhooks=False)
    silent = sale(sb, code)
    assert silent == []
    sb.configure(webhooks=True)
    start = len(receiver.received)
    loud = sale(sb, code)
    receiver.events(loud)
    assert {r["event"]["eventId"] for r in receiver.received[start:]} == set(loud)  # nothing from the silent sale


def test_delay_holds_deliveries_back(sb: SandboxThread, receiver: Receiver) -> None:
    sb.configure(webhook_delay_ms=400)
    started = time.monotonic()
    got = receiver.events(sale(sb, shared_simple(sb)))
    assert min(r["at"] for r in got) - started >= 0.4


def test_reorder_window_shuffles_deliveries(sb: SandboxThread, receiver: Receiver) -> None:
    sb.configure(webhook_reorder_window=10, webhook_reorder_hold_ms=2000)
    code = shared_simple(sb)
    ids = [i for _ in range(5) for i in sale(sb, code)]  # ten events fill one window
    arrived = [r["event"]["eventId"] for r in receiver.events(ids)]
    assert sorted(arrived) == sorted(ids) and arrived != ids


def test_non_2xx_answers_are_retried(sb: SandboxThread, receiver: Receiver) -> None:
    receiver.fail_first = 1
    sb.configure(webhook_retry_first_seconds=1.0, webhook_time_scale=100.0)  # the 1 s wait lasts 10 ms
    ids = sale(sb, shared_simple(sb))
    receiver.events(ids)
    assert sb.app.webhooks.wait_idle(10)
    report = requests.get(sb.url + "/_sandbox/bling/webhooks", timeout=10).json()
    attempts = {(d["eventId"], d["attempt"]): d["status"] for d in report["deliveries"] if d["eventId"] in ids}
    assert attempts == {**{(i, 1): 500 for i in ids}, **{(i, 2): 200 for i in ids}}
