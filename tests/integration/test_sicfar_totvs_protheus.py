"""The SicFar write-back to TOTVS Protheus (issue #18), in-process: the closed lots mapped by
transforms/sicfar-to-totvs-protheus.yml, posted by target-totvs (flavour protheus, OAuth2 password grant, TenantId)
to the sandbox's MATA250-style appointment and lot-status services. One SD3 appointment per lot with the KEYENCE
total, even when every 3rd write loses its answer (the genericQuery look-up on SD3 finds it); the orders' C2_QUJE
equal the totals; a closed order's refusal is dead-lettered with TOTVS's words while the others land; a re-run
posts nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sicfar_lots import close_order, mapped_input, produced, reopen_orders, totals, view_messages

from ponte.testing import api_targets
from ponte.testing.in_process import SandboxThread

LOTS = 6


@pytest.fixture
def totvs() -> Iterator[SandboxThread]:
    with SandboxThread.start("totvs", "--orders", "30") as running:
        yield running


def run_target(sb: SandboxThread, source: Path, folder: Path) -> Any:
    config = api_targets.write_config(
        folder, flavour="protheus", base_url=f"{sb.url}/rest", username="admin", password="totvs-sandbox",
        tenant_id="01,01", state_dir=str(folder / "state"),
    )  # fmt: skip
    return api_targets.run_api_target_in_process("target-totvs", config, source)


def sd3(sb: SandboxThread) -> list[dict[str, Any]]:
    with sb.app.plant.sd3.lock:
        return [{k: v.strip() if isinstance(v, str) else v for k, v in r.items()} for r in sb.app.plant.sd3.rows]


def test_each_closed_lot_becomes_one_sd3_appointment_a_closed_order_is_dead_lettered_and_a_rerun_posts_nothing(
    totvs: SandboxThread, tmp_path: Path
) -> None:
    sb = totvs
    orders = reopen_orders(sb.app, LOTS + 1)
    refused, good = orders[3], [o for i, o in enumerate(orders) if i != 3]
    close_order(sb.app, refused["numero"])  # closed in TOTVS after SicFar closed its lot
    source = mapped_input("transforms/sicfar-to-totvs-protheus.yml", view_messages(orders), tmp_path / "mapped")
    sb.configure(commit_then_drop_every=3)  # every 3rd write is committed, then its answer is lost
    sb.reset_log()

    result = run_target(sb, source, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    log = sb.request_log()
    assert any(e.get("fault") == "commit_then_drop" for e in log)
    assert {e["headers"].get("TenantId") for e in log if "/rest/api/" in e["path"] and "oauth2" not in e["path"]} == {
        "01,01"
    }
    rows = sd3(sb)
    assert sorted(r["D3_LOTECTL"] for r in rows) == sorted(o["lote"] for o in good)  # one each, none twice
    want = totals(orders)
    assert {r["D3_OP"]: r["D3_QUANT"] for r in rows} == {o["numero"]: want[o["numero"]] for o in good}
    first = next(r for r in rows if r["D3_OP"] == orders[0]["numero"])
    assert first["D3_COD"] == orders[0]["produto"] and first["D3_PERDA"] == 2  # product from the order; losses
    assert first["D3_TM"] == "010" and first["D3_PARCTOT"] == "P" and first["D3_EMISSAO"] == "20261121"
    assert len(first["D3_DOC"]) == 9 and first["D3_DOC"].startswith("SF")
    now = produced(sb.app)
    assert {o["numero"]: now[o["numero"]] for o in good} == {o["numero"]: want[o["numero"]] for o in good}
    assert now[refused["numero"]] == 0

    status = sb.session.get(f"{sb.url}/rest/api/est/v1/lotstatus", auth=("admin", "totvs-sandbox"),
                            headers={"TenantId": "01,01"}, timeout=10).json()["items"]  # fmt: skip
    by_lot = {lot["B8_LOTECTL"]: lot["status"] for lot in status}
    assert {by_lot[o["lote"]] for o in good} == {"QUARENTENA"}
    assert by_lot.get(refused["lote"]) != "QUARENTENA"

    letters = api_targets.read_jsonl(tmp_path / "dl.jsonl")
    assert sorted((letter["entity"], letter["record"]["D3_LOTECTL" if letter["entity"] == "apontamentos"
                                                    else "B8_LOTECTL"]) for letter in letters) == [
        ("apontamentos", refused["lote"]), ("lotes_status", refused["lote"]),
    ]  # fmt: skip
    reason = next(letter["reason"] for letter in letters if letter["entity"] == "apontamentos")
    assert reason.startswith(f"Ordem de produção encerrada. — OP {refused['numero']} was closed on 20261130")

    sb.configure(commit_then_drop_every=0)
    sb.reset_log()
    (tmp_path / "again").mkdir()
    again = run_target(sb, source, tmp_path / "again")
    assert again.returncode == 0, again.stderr[-4000:]
    # every lot again (more than tap-postgres re-reads at its bookmark): the posted ones are found by the look-up;
    # only the refused one is tried again, and TOTVS still refuses it
    posts = [e for e in sb.request_log() if e["method"] == "POST" and "productionappointments" in e["path"]]
    assert [(e["body"]["D3_LOTECTL"], e["status"]) for e in posts] == [(refused["lote"], 422)]
    assert len(sd3(sb)) == LOTS
