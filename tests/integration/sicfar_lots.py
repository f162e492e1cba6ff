"""Closed SicFar lots as tap-postgres emits them, mapped in-process: the input target-totvs gets in `sicfar-to-totvs`.

The in-process tests of the write-back skip tap-postgres and Meltano (minutes of discovery and start-up, covered by
the acceptance test test_sicfar_totvs_writeback.py): they write the view's stream `sicfar-lots_ready_to_post`
as tap-postgres 0.10 writes it (json_as_object, numerics as numbers, timestamps as ISO strings), run the shipped
mapping through `ponte-mapper`'s entry point and hand its output to `target-totvs`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ponte.sandbox.totvs.app import TotvsApp
from ponte.testing.in_process import run_console_script

PROJECT = Path(__file__).parents[2]
STREAM = "sicfar-lots_ready_to_post"
VIEW_SCHEMA = {
    "type": "SCHEMA",
    "stream": STREAM,
    "key_properties": ["ordem_producao", "lote"],
    "bookmark_properties": ["closed_at"],
    "schema": {
        "type": "object",
        "properties": {
            "ordem_producao": {"type": ["string"]},
            "lote": {"type": ["string"]},
            "closed_at": {"type": ["string"], "format": "date-time"},
            "signed_by": {"type": ["string"]},
            "perdas": {"type": ["object"]},
            "status_lote": {"type": ["string"]},
            "produzidos": {"type": ["number", "null"]},
            "rejeitados_keyence": {"type": ["number", "null"]},
            "perdas_total": {"type": ["number", "null"]},
        },
    },
}


def reopen_orders(app: TotvsApp, count: int, branch: str = "01") -> list[dict[str, Any]]:
    """`count` of the branch's orders reopened (C2_DATRF blank) with nothing produced and room for 100,000 units."""
    sc2 = app.plant.sc2
    with sc2.lock:
        rows = sc2.live(branch)[:count]
        for row in rows:
            sc2.change(row, {"C2_DATRF": "", "C2_QUJE": 0, "C2_QUANT": 100_000}, app.now())
    return [
        {"numero": f"{r['C2_NUM']}{r['C2_ITEM']}{r['C2_SEQUEN']}".strip(), "lote": r["_lote"],
         "produto": r["C2_PRODUTO"].strip()}
        for r in rows
    ]  # fmt: skip


def close_order(app: TotvsApp, numero: str, branch: str = "01") -> None:
    """The order closed in TOTVS (C2_DATRF set), as after SicFar closed its lot: TOTVS refuses appointments."""
    sc2 = app.plant.sc2
    with sc2.lock:
        row = next(r for r in sc2.live(branch) if f"{r['C2_NUM']}{r['C2_ITEM']}{r['C2_SEQUEN']}".strip() == numero)
        sc2.change(row, {"C2_DATRF": "20261130"}, app.now())


def produced(app: TotvsApp, branch: str = "01") -> dict[str, float]:
    """Each order's produced quantity (C2_QUJE) as TOTVS keeps it."""
    with app.plant.sc2.lock:
        return {
            f"{r['C2_NUM']}{r['C2_ITEM']}{r['C2_SEQUEN']}".strip(): r["C2_QUJE"] for r in app.plant.sc2.live(branch)
        }


def totals(orders: list[dict[str, Any]]) -> dict[str, int]:
    """The KEYENCE total of each order (what the view's `produzidos` says): distinct per order."""
    return {o["numero"]: 1500 + 10 * index for index, o in enumerate(orders)}


def view_messages(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One closed lot per order in the view's stream (losses by reason, status QUARENTENA), then its STATE."""
    records = []
    for index, (order, units) in enumerate(zip(orders, totals(orders).values(), strict=True)):
        losses = {"vazamento": index % 3, "rotulo": 2}
        records.append({
            "ordem_producao": order["numero"], "lote": order["lote"],
            "closed_at": f"2026-11-21T1{index // 60 % 10}:{index % 60:02d}:00+00:00", "signed_by": "supervisor.ana",
            "perdas": losses, "status_lote": "QUARENTENA", "produzidos": units, "rejeitados_keyence": 5,
            "perdas_total": sum(losses.values()),
        })  # fmt: skip
    state = {"bookmarks": {STREAM: {"replication_key": "closed_at", "replication_key_value": records[-1]["closed_at"]}}}
    return [
        VIEW_SCHEMA,
        *({"type": "RECORD", "stream": STREAM, "record": r} for r in records),
        {"type": "STATE", "value": state},
    ]


def mapped_input(mapping: str, messages: list[dict[str, Any]], folder: Path) -> Path:
    """`messages` through `ponte-mapper` with `mapping` (in this process); the file of its output."""
    folder.mkdir(parents=True, exist_ok=True)
    source, config = folder / "tap.jsonl", folder / "mapper.json"
    source.write_text("".join(json.dumps(m) + "\n" for m in messages))
    config.write_text(json.dumps({"mapping": mapping}))
    run = run_console_script("ponte-mapper", ["--config", str(config), "--input", str(source)], cwd=PROJECT)
    if run.returncode != 0:
        raise AssertionError(f"ponte-mapper {mapping} exited with {run.returncode}: {run.stderr[-3000:]}")
    output = folder / "target-input.jsonl"
    output.write_text(run.stdout)
    return output
