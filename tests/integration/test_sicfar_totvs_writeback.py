"""SicFar → TOTVS write-back (issue #18): `ponte run sicfar-to-totvs` posts each closed lot to the plant's TOTVS API
exactly once — one production appointment with the KEYENCE total, one lot-status update — even when every 5th
write loses its answer after TOTVS committed it; a lot TOTVS refuses is dead-lettered with its words; a re-run
posts nothing. One test, two Meltano runs (each costs tap-postgres's discovery and start).

The plant's database is a database of its own with transforms/sql/sicfar_lot_closures.sql applied as shipped; the
KEYENCE totals are put in place by SQL (keyence.producao_por_ordem as a plain table: the view only reads it). The
TOTVS sandbox runs in this process; 51 of its orders are reopened with nothing produced, so after the run each
order's produced quantity (C2_QUJE, the plant API's quantidadeProduzida) must equal its KEYENCE total.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from ponte.sandbox.http_layer import RunningSandbox, run_in_thread
from ponte.sandbox.totvs.app import TotvsApp
from ponte.testing.meltano_run import ponte_run

# two ponte runs with tap-postgres discovery (~15 s on a warm machine): part of `make test`.
pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
CONTRACT = PROJECT / "transforms" / "sql" / "sicfar_lot_closures.sql"
LOTS = 50


@pytest.fixture
def sandbox() -> Iterator[tuple[TotvsApp, RunningSandbox]]:
    app = TotvsApp(orders=120)
    with run_in_thread(app) as running:
        yield app, running


@pytest.fixture
def plant_db() -> Iterator[str]:
    """A database of the plant's own, with the contract applied; its DSN."""
    name = f"sicfar_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA keyence")
        conn.execute(
            "CREATE TABLE keyence.producao_por_ordem (ordem_producao text, linha text, produzidos bigint, rejeitados bigint)"
        )
        conn.execute(CONTRACT.read_text())
    yield dsn
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Plant:
    """The plant API as SicFar's users see it, and the test's hand on the sandbox's orders."""

    def __init__(self, app: TotvsApp, running: RunningSandbox) -> None:
        self.app, self.base = app, running.url + "/plant/api"
        token = requests.post(self.base + "/auth/token", json={"client_id": "plant-client",
                                                               "client_secret": "plant-secret"}, timeout=10)  # fmt: skip
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> list[dict[str, Any]]:
        answer = requests.get(self.base + path, params={"pageSize": 1000, **params}, headers=self.headers, timeout=10)
        answer.raise_for_status()
        return answer.json()["items"]

    def prepare_orders(self, count: int) -> list[dict[str, Any]]:
        """`count` orders reopened (C2_DATRF blank) with nothing produced and room for 100,000 units."""
        sc2 = self.app.plant.sc2
        rows = sc2.live("01")[:count]
        with sc2.lock:
            for row in rows:
                sc2.change(row, {"C2_DATRF": "", "C2_QUJE": 0, "C2_QUANT": 100_000}, self.app.now())
        wanted = {f"{r['C2_NUM']}{r['C2_ITEM']}{r['C2_SEQUEN']}" for r in rows}
        return [o for o in self.get("/ordens-producao") if o["numero"] in wanted]

    def close_order(self, number: str) -> None:
        sc2 = self.app.plant.sc2
        with sc2.lock:
            row = next(r for r in sc2.live("01") if f"{r['C2_NUM']}{r['C2_ITEM']}{r['C2_SEQUEN']}" == number)
            sc2.change(row, {"C2_DATRF": "20261130"}, self.app.now())


def close_lots(dsn: str, orders: list[dict[str, Any]]) -> dict[str, int]:
    """KEYENCE totals (two lines per order) and one closure per order, as SicFar writes them; the totals by order."""
    totals = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for index, order in enumerate(orders):
            first, second = 1000 + 7 * index, 500 + 3 * index
            totals[order["numero"]] = first + second
            conn.execute(
                "INSERT INTO keyence.producao_por_ordem VALUES (%s, 'SPEP-01', %s, 4), (%s, 'SPEP-02', %s, 1)",
                (order["numero"], first, order["numero"], second),
            )
            conn.execute(
                "INSERT INTO sicfar.lot_closures (ordem_producao, lote, signed_by, perdas) VALUES (%s, %s, %s, %s)",
                (order["numero"], order["lote"], "supervisor.ana", json.dumps({"vazamento": index % 3, "rotulo": 2})),
            )
    return totals


def environment(plant_db: str, running: RunningSandbox, pg_schema: str, tmp_path: Path) -> dict[str, str]:
    database = plant_db.split("dbname=")[1]
    return {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": pg_schema,
        "PONTE_DB_DSN": ADMIN_DSN,
        "PONTE_DB_SCHEMA": pg_schema,
        # tap-postgres insists on a password in the URL; the test server trusts local connections
        "TAP_POSTGRES_SQLALCHEMY_URL": f"postgresql://postgres:trust@127.0.0.1:5432/{database}",
        "TARGET_TOTVS_BASE_URL": running.url + "/plant/api",
        "TARGET_TOTVS_BACKOFF_BASE_SECONDS": "0.05",
        "TARGET_TOTVS_RUN_LOG_DSN": ADMIN_DSN,
        "TARGET_TOTVS_RUN_LOG_SCHEMA": pg_schema,
        "TARGET_TOTVS_DEAD_LETTER_PATH": str(tmp_path / "dead_letters.jsonl"),
    }


def writes(running: RunningSandbox, method: str, part: str) -> list[dict[str, Any]]:
    return [r for r in running.requests() if r["method"] == method and part in r["path"]]


def test_each_closed_lot_is_posted_once_despite_lost_answers_a_refusal_is_dead_lettered_and_a_rerun_posts_nothing(
    meltano_installed: None, sandbox: tuple[TotvsApp, RunningSandbox], plant_db: str, pg_schema: str, tmp_path: Path
) -> None:
    app, running = sandbox
    plant = Plant(app, running)
    orders = plant.prepare_orders(LOTS + 1)
    refused = orders[17]
    good = [o for o in orders if o is not refused]
    totals = close_lots(plant_db, orders)
    plant.close_order(refused["numero"])  # closed in TOTVS after SicFar closed its lot: TOTVS refuses it
    app.configure(commit_then_drop_every=5)  # every 5th write is committed, then its answer is lost
    env = environment(plant_db, running, pg_schema, tmp_path)
    appointments = app.flavours["plant"].writes.appointments
    running.reset_log()

    first = ponte_run(PROJECT, ["sicfar-to-totvs"], env)
    assert first.returncode == 0, first.stderr[-4000:]
    assert any(r["fault"] == "commit_then_drop" for r in writes(running, "POST", "/apontamentos"))
    assert sorted(a["lote"] for a in appointments) == sorted(o["lote"] for o in good)  # 50, none twice
    produced = {o["numero"]: o["quantidadeProduzida"] for o in plant.get("/ordens-producao")}
    assert {o["numero"]: produced[o["numero"]] for o in good} == {o["numero"]: totals[o["numero"]] for o in good}
    assert produced[refused["numero"]] == 0
    statuses = {lot["lote"]: lot["status"] for lot in plant.get("/lotes")}
    assert {statuses[o["lote"]] for o in good} == {"QUARENTENA"}
    assert statuses[refused["lote"]] != "QUARENTENA"

    appointment = next(a for a in appointments if a["numero"] == orders[4]["numero"])
    assert appointment["documento"] == f"SICFAR-{orders[4]['lote']}"
    assert appointment["responsavel"] == "supervisor.ana"
    assert sorted(appointment["perdas"], key=lambda p: p["motivo"]) == [
        {"motivo": "rotulo", "quantidade": 2.0}, {"motivo": "vazamento", "quantidade": 1.0},
    ]  # fmt: skip

    letters = [json.loads(line) for line in (tmp_path / "dead_letters.jsonl").read_text().splitlines()]
    assert sorted((letter["entity"], letter["record"]["lote"]) for letter in letters) == [
        ("apontamentos", refused["lote"]), ("lotes_status", refused["lote"]),
    ]  # fmt: skip
    reason = next(letter["reason"] for letter in letters if letter["entity"] == "apontamentos")
    assert reason.startswith(f"Ordem de produção encerrada. — OP {refused['numero']} was closed on 20261130")

    # Each posting is in the history with the id TOTVS gave it, also when its answer was lost (found afterwards).
    with psycopg.connect(ADMIN_DSN) as conn:
        history = conn.execute(
            f"SELECT status, lote, totvs_id FROM \"{pg_schema}\".sicfar_totvs_history WHERE entity = 'apontamentos'"
        ).fetchall()
    assert {(lot, totvs_id) for status, lot, totvs_id in history if status in ("sent", "already-posted")} == {
        (a["lote"], a["id"]) for a in appointments
    }
    assert {status for status, _, _ in history} == {"sent", "already-posted", "refused"}

    running.reset_log()
    again = ponte_run(PROJECT, ["sicfar-to-totvs"], env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert writes(running, "POST", "/apontamentos") == []
    assert len(appointments) == LOTS
