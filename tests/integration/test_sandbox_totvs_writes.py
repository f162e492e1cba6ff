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
