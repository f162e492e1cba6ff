"""The TOTVS sandbox's plant API takes SicFar's write calls as a TOTVS API would: an appointment raises the order's
produced quantity (C2_QUJE) once per POST, business refusals come in the TOTVS error model, a lot's status shows
in GET /lotes, and `commit_then_drop_every` commits a write before losing its answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ponte.sandbox.http_layer import run_in_thread
from ponte.sandbox.totvs.app import TotvsApp


@pytest.fixture(scope="module")
def plant() -> Iterator[tuple[TotvsApp, str, dict[str, str]]]:
    app = TotvsApp(orders=60)
    with run_in_thread(app) as running:
        base = running.url + "/plant/api"
        token = requests.post(base + "/auth/token", json={"client_id": "plant-client", "client_secret": "plant-secret"},
                              timeout=10).json()["access_token"]  # fmt: skip
        yield app, base, {"Authorization": f"Bearer {token}"}


def _orders(base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    return requests.get(base + "/ordens-producao", params={"pageSize": 1000}, headers=headers, timeout=10).json()[
        "items"
    ]


def test_appointments_raise_the_produced_quantity_and_refusals_carry_totvs_words(
    plant: tuple[TotvsApp, str, dict[str, str]],
) -> None:
    _, base, headers = plant
    orders = _orders(base, headers)
    open_order = next(o for o in orders if o["status"] != "ENCERRADA")
    closed = next(o for o in orders if o["status"] == "ENCERRADA")
    url = f"{base}/ordens-producao/{open_order['numero']}/apontamentos"

    def post(order_url: str, **body: Any) -> requests.Response:
        return requests.post(order_url, json=body, headers=headers, timeout=10)

    before = open_order["quantidadeProduzida"]
    for _ in range(2):  # not idempotent: twice is twice
        assert post(url, documento="D-1", lote=open_order["lote"], quantidade=10).status_code == 201
    after = next(o for o in _orders(base, headers) if o["numero"] == open_order["numero"])
    assert after["quantidadeProduzida"] == before + 20
    found = requests.get(url, params={"documento": "D-1"}, headers=headers, timeout=10).json()["items"]
    assert [a["quantidade"] for a in found] == [10, 10]

    refusals = {
        "closed": post(f"{base}/ordens-producao/{closed['numero']}/apontamentos", documento="D-2", lote=closed["lote"],
                       quantidade=1),
        "over": post(url, documento="D-3", lote=open_order["lote"], quantidade=10**9),
        "lot": post(url, documento="D-4", lote="NOPE", quantidade=1),
        "order": post(f"{base}/ordens-producao/99999999999/apontamentos", documento="D-5", lote="X", quantidade=1),
        "body": post(url, lote=5),
    }  # fmt: skip
    answers = {name: (r.status_code, r.json()["message"]) for name, r in refusals.items()}
    assert answers == {
        "closed": (422, "Ordem de produção encerrada."),
        "over": (422, "Quantidade excede o saldo da ordem de produção."),
        "lot": (422, "Lote não encontrado para a ordem de produção."),
        "order": (404, "Ordem de produção não encontrada."),
        "body": (400, "Apontamento inválido."),
    }
    assert {d["code"] for d in refusals["body"].json()["details"]} == {"documento", "lote", "quantidade"}
    assert "C2_DATRF" in refusals["closed"].json()["detailedMessage"]


def test_a_lot_status_shows_in_the_lot_list_and_a_dropped_answer_was_committed(
    plant: tuple[TotvsApp, str, dict[str, str]],
) -> None:
    app, base, headers = plant
    order = next(o for o in _orders(base, headers) if o["status"] == "ENCERRADA")
    app.configure(commit_then_drop_every=1)
    try:
        with pytest.raises(requests.ConnectionError):
            requests.patch(f"{base}/lotes/{order['lote']}", json={"status": "BLOQUEADO"}, headers=headers, timeout=10)
    finally:
        app.configure(commit_then_drop_every=0)
    lots = requests.get(base + "/lotes", params={"pageSize": 1000}, headers=headers, timeout=10).json()["items"]
    assert next(lot["status"] for lot in lots if lot["lote"] == order["lote"]) == "BLOQUEADO"
    wrong = requests.patch(f"{base}/lotes/{order['lote']}", json={"status": "X"}, headers=headers, timeout=10)
    assert (wrong.status_code, wrong.json()["message"]) == (400, "Status de lote inválido.")
    missing = requests.patch(f"{base}/lotes/NOPE", json={"status": "LIBERADO"}, headers=headers, timeout=10)
    assert (missing.status_code, missing.json()["message"]) == (404, "Lote não encontrado.")


def test_protheus_appointments_write_sd3_found_by_generic_query_and_refusals_carry_error_code(
    plant: tuple[TotvsApp, str, dict[str, str]],
) -> None:
    app, base, _ = plant
    rest = base.removesuffix("/plant/api") + "/rest"
    auth, tenant = ("admin", "totvs-sandbox"), {"TenantId": "01,01"}
    sc2 = app.plant.sc2
    with sc2.lock:
        row = next(r for r in sc2.live("01") if not r["C2_DATRF"].strip() and r["C2_QUANT"] - r["C2_QUJE"] > 100)
        number, lot, before = f"{row['C2_NUM']}{row['C2_ITEM']}{row['C2_SEQUEN']}", row["_lote"], row["C2_QUJE"]

    def post(path: str, body: dict[str, Any], headers: dict[str, str] = tenant) -> requests.Response:
        return requests.post(f"{rest}/api/{path}", json=body, auth=auth, headers=headers, timeout=10)

    body = {"D3_OP": number, "D3_TM": "010", "D3_QUANT": 7, "D3_LOTECTL": lot, "D3_DOC": "SFTEST001"}
    for _ in range(2):  # not idempotent, as MATA250: twice is twice
        created = post("pcp/v1/productionappointments", body)
        assert created.status_code == 201 and created.json()["D3_COD"] == row["C2_PRODUTO"].strip()
    assert row["C2_QUJE"] == before + 14
    found = requests.get(f"{rest}/api/framework/v1/genericQuery", auth=auth, headers=tenant, timeout=10, params={
        "tables": "SD3", "fields": "D3_DOC,D3_NUMSEQ", "where": "D3_DOC = 'SFTEST001' AND D3_ESTORNO = ' '"})  # fmt: skip
    assert [item["d3_doc"].strip() for item in found.json()["items"]] == ["SFTEST001", "SFTEST001"]

    refusals = {
        "over": post("pcp/v1/productionappointments", {**body, "D3_QUANT": 10**9}),
        "product": post("pcp/v1/productionappointments", {**body, "D3_COD": "MP0001"}),
        "exit_tm": post("pcp/v1/productionappointments", {**body, "D3_TM": "501"}),
        "order": post("pcp/v1/productionappointments", {**body, "D3_OP": "99999999999"}),
        "body": post("pcp/v1/productionappointments", {"D3_OP": number, "D3_DOC": "TOO-LONG-DOC"}),
        "tenant": post("pcp/v1/productionappointments", body, headers={}),
        "lot": post("est/v1/lotstatus", {"B8_LOTECTL": "NOPE", "status": "LIBERADO"}),
    }
    answers = {name: (r.status_code, r.json().get("errorCode"), r.json()["message"]) for name, r in refusals.items()}
    assert answers == {
        "over": (422, "QTDMAIOR", "Quantidade excede o saldo da ordem de produção."),
        "product": (422, "PRODDIF", "Produto diferente do produto da ordem de produção."),
        "exit_tm": (400, "400", "Apontamento inválido."),
        "order": (404, "404", "Ordem de produção não encontrada."),
        "body": (400, "400", "Apontamento inválido."),
        "tenant": (400, "400", "Cabeçalho TenantId obrigatório."),
        "lot": (404, "404", "Lote não encontrado."),
    }
    assert {d["code"] for d in refusals["body"].json()["details"]} == {"D3_TM", "D3_QUANT", "D3_LOTECTL", "D3_DOC"}
    assert "C2_QUANT" in refusals["over"].json()["detailedMessage"]

    assert post("est/v1/lotstatus", {"B8_LOTECTL": lot, "status": "REPROVADO"}).json()["status"] == "REPROVADO"
    app.configure(protheus_error_code_field="code")
    try:
        assert post("pcp/v1/productionappointments", {**body, "D3_QUANT": 10**9}).json()["code"] == "QTDMAIOR"
    finally:
        app.configure(protheus_error_code_field="errorCode")
