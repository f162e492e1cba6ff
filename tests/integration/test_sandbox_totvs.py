"""The TOTVS sandbox (Protheus, the plant's API, RM Educacional) over real sockets (shared docs, api-facts §5-6)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ponte.sandbox import run_in_thread
from ponte.sandbox.cli import sandbox as sandbox_cli
from ponte.sandbox.totvs.app import TotvsApp
from ponte.sandbox.totvs.switches import TOTVS_OVERRIDES, TOTVS_SWITCHES
from ponte.testing import SandboxProcess
from ponte.testing.in_process import SandboxThread

PROTHEUS = ("admin", "totvs-sandbox")
PLANT = {"client_id": "plant-client", "client_secret": "plant-secret"}
RM = {"username": "mestre", "password": "totvs"}
GQ = "/rest/api/framework/v1/genericQuery"
MRP = "/rest/api/pcp/v1/mrpproductionorders"
EDU = "/api/educational/v1"
ERROR_KEYS = {"code", "message", "detailedMessage", "helpUrl", "details"}
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")
YYYYMMDD = re.compile(r"^\d{8}$")


@pytest.fixture(scope="module")
def shared() -> Iterator[SandboxProcess]:
    """Read-only tests share one sandbox process."""
    with SandboxThread.start("totvs") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def scratch() -> Iterator[SandboxProcess]:
    """Tests that touch rows, expire tokens or change switches use this one (and restore the switches)."""
    with SandboxThread.start("totvs", "--orders", "60", "--students", "120") as sandbox:
        yield sandbox


@pytest.fixture
def sb(scratch: SandboxProcess) -> Iterator[SandboxProcess]:
    before = scratch.session.get(f"{scratch.url}/_sandbox/config", timeout=10).json()
    yield scratch
    scratch.configure(**before)
    scratch.session.post(f"{scratch.url}/_sandbox/reset-limits", timeout=10)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# --- helpers --------------------------------------------------------------------------------------------------
def totvs_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and all(isinstance(body[k], str) for k in ("code", "message", "detailedMessage"))
    return body


def protheus_token(sb: SandboxProcess, http: requests.Session, **params: str) -> requests.Response:
    query = {"grant_type": "password", "username": PROTHEUS[0], "password": PROTHEUS[1], **params}
    return http.post(sb.url + "/rest/api/oauth2/v1/token", params=query, timeout=10)


def gq(
    sb: SandboxProcess, http: requests.Session, tenant: str | None = "01,01", auth: Any = PROTHEUS, **params: Any
) -> requests.Response:
    headers = {"TenantId": tenant} if tenant else {}
    if isinstance(auth, str):
        headers["Authorization"] = f"Bearer {auth}"
        auth = None
    return http.get(sb.url + GQ, params=params, headers=headers, auth=auth, timeout=10)


def gq_all(sb: SandboxProcess, http: requests.Session, page_size: int = 50, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in range(1, 500):
        body = gq(sb, http, page=page, pageSize=page_size, **params).json()
        rows.extend(body["items"])
        if not body["hasNext"]:
            return rows
    raise AssertionError("paging never ended")


def plant_token(sb: SandboxProcess, http: requests.Session) -> str:
    response = http.post(sb.url + "/plant/api/auth/token", json=PLANT, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def plant(sb: SandboxProcess, http: requests.Session, access: str, path: str, **params: Any) -> requests.Response:
    return http.get(f"{sb.url}/plant/api/{path}", params=params, headers={"Authorization": f"Bearer {access}"}, timeout=10)  # fmt: skip


def plant_all(sb: SandboxProcess, http: requests.Session, access: str, path: str, **params: Any) -> list[dict]:
    rows: list[dict] = []
    for page in range(1, 500):
        body = plant(sb, http, access, path, page=page, pageSize=25, **params).json()
        rows.extend(body["items"])
        if not body["hasNext"]:
            return rows
    raise AssertionError("paging never ended")


def rm_token(sb: SandboxProcess, http: requests.Session, path: str = "/api/connect/token") -> dict[str, Any]:
    response = http.post(sb.url + path, json=RM, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def rm(sb: SandboxProcess, http: requests.Session, access: Any, path: str, **params: Any) -> requests.Response:
    if isinstance(access, tuple):
        return http.get(sb.url + EDU + path, params=params, auth=access, timeout=10)
    return http.get(sb.url + EDU + path, params=params, headers={"Authorization": f"Bearer {access}"}, timeout=10)


def rm_all(sb: SandboxProcess, http: requests.Session, access: str, path: str, size: int = 10, **params: Any) -> list:
    rows: list[dict] = []
    for page in range(1, 500):
        body = rm(sb, http, access, path, page=page, pageSize=size, **params).json()
        assert body["total"] >= len(rows) + len(body["items"])
        rows.extend(body["items"])
        if not body["hasNext"]:
            assert len(rows) == body["total"]
            return rows
    raise AssertionError("paging never ended")


# --- Protheus: auth ---------------------------------------------------------------------------------------------
def test_protheus_password_grant_refresh_rotation_and_expiry(sb: SandboxProcess, http: requests.Session) -> None:
    issued = protheus_token(sb, http)
    assert issued.status_code == 201
    pair = issued.json()
    assert set(pair) == {"access_token", "refresh_token", "scope", "token_type", "expires_in"}
    assert (pair["scope"], pair["token_type"], pair["expires_in"]) == ("default", "Bearer", 3600)
    assert len(pair["access_token"].split(".")) == 3
    assert gq(sb, http, auth=pair["access_token"], tables="SB1").status_code == 200
    as_headers = http.post(sb.url + "/rest/api/oauth2/v1/token?grant_type=password", headers={"username": PROTHEUS[0], "password": PROTHEUS[1]}, timeout=10)  # fmt: skip
    assert as_headers.status_code == 201
    totvs_error(protheus_token(sb, http, password="nope"), 401)
    totvs_error(http.post(sb.url + "/rest/api/oauth2/v1/token", timeout=10), 400)

    refreshed = protheus_token(sb, http, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert refreshed.status_code == 201
    second = refreshed.json()
    assert second["refresh_token"] != pair["refresh_token"]
    totvs_error(protheus_token(sb, http, grant_type="refresh_token", refresh_token=pair["refresh_token"]), 401)

    assert sb.admin("totvs/expire-tokens", {"flavour": "protheus"})["expired"] >= 2
    expired = totvs_error(gq(sb, http, auth=second["access_token"], tables="SB1"), 401)
    assert "expired" in expired["detailedMessage"].lower()
    third = protheus_token(sb, http, grant_type="refresh_token", refresh_token=second["refresh_token"]).json()
    assert gq(sb, http, auth=third["access_token"], tables="SB1").status_code == 200

    sb.configure(protheus_access_ttl_seconds=0)
    instant = protheus_token(sb, http).json()
    totvs_error(gq(sb, http, auth=instant["access_token"], tables="SB1"), 401)
    totvs_error(gq(sb, http, auth="not-a-token", tables="SB1"), 401)
    totvs_error(gq(sb, http, auth=("admin", "wrong"), tables="SB1"), 401)
    totvs_error(gq(sb, http, auth=None, tables="SB1"), 401)

    sb.configure(protheus_refresh_rotates=False, protheus_access_ttl_seconds=3600)
    kept = protheus_token(sb, http, grant_type="refresh_token", refresh_token=third["refresh_token"]).json()
    assert kept["refresh_token"] == third["refresh_token"]
    bearer = {"Authorization": f"Bearer {kept['access_token']}"}
    killed = http.post(sb.url + "/rest/api/framework/v1/invalidateToken", params={"refresh_token": kept["refresh_token"]}, headers=bearer, timeout=10)  # fmt: skip
    assert killed.status_code == 200 and killed.json()["invalidated"] == 2
    totvs_error(gq(sb, http, auth=kept["access_token"], tables="SB1"), 401)
    totvs_error(protheus_token(sb, http, grant_type="refresh_token", refresh_token=kept["refresh_token"]), 401)


def test_tenant_header_is_required_and_branches_differ(shared: SandboxProcess, http: requests.Session) -> None:
    missing = totvs_error(gq(shared, http, tenant=None, tables="SB1"), 400)
    assert "TenantId" in missing["message"]
    totvs_error(gq(shared, http, tenant="99,01", tables="SB1"), 400)
    first = gq_all(shared, http, tables="SB1")
    second = gq_all(shared, http, tenant="01,02", tables="SB1")
    assert {r["b1_filial"] for r in first} == {"01"} and {r["b1_filial"] for r in second} == {"02"}
    assert len(first) != len(second)
    both = gq_all(shared, http, tables="SB1", FilialFilter="false")
    assert len(both) == len(first) + len(second)
    totvs_error(gq(shared, http, tables="SB1", FilialFilter="maybe"), 400)


# --- Protheus: genericQuery -------------------------------------------------------------------------------------
def test_generic_query_stores_padded_chars_yyyymmdd_dates_and_numbers(shared: SandboxProcess, http: requests.Session) -> None:  # fmt: skip
    products = gq_all(shared, http, tables="SB1")
    assert list(products[0]) == [
        "b1_filial", "b1_cod", "b1_desc", "b1_tipo", "b1_um", "b1_locpad", "b1_grupo", "b1_peso", "b1_pesbru",
        "b1_ativo", "b1_xvelnom", "d_e_l_e_t_", "r_e_c_n_o_", "s_t_a_m_p_",
    ]  # fmt: skip
    for row in products:
        assert len(row["b1_cod"]) == 15 and len(row["b1_desc"]) == 30 and row["b1_cod"] != row["b1_cod"].strip()
        assert isinstance(row["b1_peso"], float) and isinstance(row["r_e_c_n_o_"], int)
        assert STAMP.match(row["s_t_a_m_p_"]) and row["d_e_l_e_t_"] == ""
    finished = [r for r in products if r["b1_tipo"] == "PA"]
    assert finished and all(r["b1_xvelnom"] > 0 for r in finished)
    assert any("SOL CLORETO SODIO 0,9%" in r["b1_desc"] for r in finished)
    assert any("AMP" in r["b1_desc"] for r in finished)

    orders = gq_all(shared, http, tables="SC2")
    for row in orders:
        assert len(row["c2_num"]) == 6 and len(row["c2_produto"]) == 15 and len(row["c2_obs"]) == 30
        for name in ("c2_emissao", "c2_datpri", "c2_datprf"):
            assert YYYYMMDD.match(row[name])
        assert row["c2_datrf"] == " " * 8 or YYYYMMDD.match(row["c2_datrf"])
        assert STAMP.match(row["s_t_a_m_p_"])
    assert any(r["c2_datrf"] == " " * 8 for r in orders) and any(r["c2_datrf"].strip() for r in orders)

    lots = gq_all(shared, http, tables="SB8")
    assert lots and all("s_t_a_m_p_" not in r for r in lots)
    assert all(len(r["b8_lotectl"]) == 10 and len(r["b8_numlote"]) == 6 and YYYYMMDD.match(r["b8_dtvalid"]) for r in lots)  # fmt: skip
    assert any(r["b8_lotefor"].strip() for r in lots) and any(not r["b8_lotefor"].strip() for r in lots)
    stamp = totvs_error(gq(shared, http, tables="SB8", fields="b8_lotectl,s_t_a_m_p_"), 400)
    assert "s_t_a_m_p_" in stamp["detailedMessage"].lower()


def test_generic_query_pages_with_multiplier_semantics(shared: SandboxProcess, http: requests.Session) -> None:
    first = gq(shared, http, tables="SC2").json()
    assert len(first["items"]) == 20 and first["hasNext"] is True  # default pageSize 20
    eight = gq(shared, http, tables="SC2", page=1, pageSize=8).json()["items"]
    second_four = gq(shared, http, tables="SC2", page=2, pageSize=4).json()["items"]
    assert second_four == eight[4:8]
    everything = gq_all(shared, http, page_size=7, tables="SC2")
    recnos = [r["r_e_c_n_o_"] for r in everything]
    assert recnos == sorted(recnos) and len(set(recnos)) == len(recnos)
    pages = -(-len(everything) // 7)
    last = gq(shared, http, tables="SC2", page=pages, pageSize=7).json()
    assert last["hasNext"] is False and last["items"] == everything[(pages - 1) * 7 :]
    beyond = gq(shared, http, tables="SC2", page=pages + 1, pageSize=7).json()
    assert beyond == {"items": [], "hasNext": False}
    assert totvs_error(gq(shared, http, tables="SC2", pageSize=1001), 400)["details"]
    totvs_error(gq(shared, http, tables="SC2", page=0), 400)
    totvs_error(gq(shared, http, tables="SC2", pageSize="x"), 400)
    assert len(gq(shared, http, tables="SC2", pageSize=1000).json()["items"]) == len(everything)


def test_generic_query_order_fields_and_tables(shared: SandboxProcess, http: requests.Session) -> None:
    newest = gq(shared, http, tables="SB1", order="-r_e_c_n_o_", pageSize=3).json()["items"]
    assert [r["r_e_c_n_o_"] for r in newest] == sorted((r["r_e_c_n_o_"] for r in newest), reverse=True)
    by_code = gq_all(shared, http, tables="SB1", order="b1_tipo,-b1_cod", fields="B1_COD,b1_tipo")
    assert all(list(r) == ["b1_cod", "b1_tipo"] for r in by_code)
    keys = [(r["b1_tipo"], r["b1_cod"]) for r in by_code]
    assert keys == sorted(keys, key=lambda k: (k[0], [-ord(c) for c in k[1]]))
    totvs_error(gq(shared, http, tables="SB1", fields="b1_cod,b1_nope"), 400)
    totvs_error(gq(shared, http, tables="SB1", order="nope"), 400)
    totvs_error(gq(shared, http), 400)
    totvs_error(gq(shared, http, tables="SZZ"), 400)
    totvs_error(gq(shared, http, tables="SB1,SC2"), 400)


def test_generic_query_where_subset_and_deleted_filter(shared: SandboxProcess, http: requests.Session) -> None:
    orders = gq_all(shared, http, tables="SC2")
    open_orders = gq_all(shared, http, tables="SC2", where="C2_DATRF = ' '")
    closed = gq_all(shared, http, tables="SC2", where="c2_datrf <> ' '")
    assert open_orders and all(r["c2_datrf"] == " " * 8 for r in open_orders)
    assert len(open_orders) + len(closed) == len(orders)
    cut = sorted(r["s_t_a_m_p_"] for r in orders)[len(orders) // 2]
    newer = gq_all(shared, http, tables="SC2", where=f"S_T_A_M_P_ > '{cut.replace('T', ' ')}'")
    assert newer and all(r["s_t_a_m_p_"] > cut[:19] for r in newer)
    assert len(newer) < len(orders)
    product = orders[0]["c2_produto"].strip()
    mixed = gq_all(shared, http, tables="SC2", where=f"SC2.C2_PRODUTO = '{product}' AND C2_QUANT >= 1000 and R_E_C_N_O_ > 1")  # fmt: skip
    assert mixed and all(r["c2_produto"].strip() == product and r["r_e_c_n_o_"] > 1 for r in mixed)
    dated = gq_all(shared, http, tables="SC2", where="C2_DATPRI >= '20261101' AND C2_DATPRI <= '20261130'")
    assert dated and all("20261101" <= r["c2_datpri"] <= "20261130" for r in dated)
    for bad in (
        "C2_DATRF = ' ' OR 1 = 1", "1 = 1", "C2_NUM LIKE '00%'", "C2_NUM IN ('004101')", "(C2_NUM = '004101')",
        "C2_NUM = '004101'; DROP TABLE SC2010", "C2_NOPE = 'x'", "C2_QUANT > 'lots'", "S_T_A_M_P_ > 'yesterday'",
        "SB1.C2_NUM = '1'", "C2_NUM = 004101 AND", "UPPER(C2_NUM) = 'X'",
    ):  # fmt: skip
        body = totvs_error(gq(shared, http, tables="SC2", where=bad), 400)
        assert "where" in body["message"], bad
    totvs_error(gq(shared, http, tables="SB8", where="S_T_A_M_P_ > '2026-01-01'"), 400)

    visible = gq_all(shared, http, tables="SC2", FilialFilter="false")
    with_deleted = gq_all(shared, http, tables="SC2", FilialFilter="false", DeletedFilter="false")
    deleted = [r for r in with_deleted if r["d_e_l_e_t_"] == "*"]
    assert deleted and len(with_deleted) == len(visible) + len(deleted)
    assert all(r["d_e_l_e_t_"] == "" for r in visible)
    only_deleted = gq_all(shared, http, tables="SC2", FilialFilter="false", DeletedFilter="false", where="D_E_L_E_T_ = '*'")  # fmt: skip
    assert only_deleted == deleted


# --- Protheus: MRP production orders ----------------------------------------------------------------------------
def test_mrp_production_orders_mirror_sc2(shared: SandboxProcess, http: requests.Session) -> None:
    sc2 = gq_all(shared, http, tables="SC2")
    items: list[dict[str, Any]] = []
    for page in range(1, 100):
        body = http.get(shared.url + MRP, params={"page": page, "pageSize": 25}, auth=PROTHEUS, headers={"TenantId": "01,01"}, timeout=10).json()  # fmt: skip
        items.extend(body["items"])
        if not body["hasNext"]:
            break
    assert len(items) == len(sc2)
    assert set(items[0]) == {"branchId", "productionOrder", "code", "product", "warehouse", "quantity", "productionAmount", "startDate", "deliveryDate", "type", "situation"}  # fmt: skip
    by_number = {r["c2_num"] + r["c2_item"] + r["c2_sequen"]: r for r in sc2}
    for item in items:
        row = by_number[item["productionOrder"]]
        assert item["product"] == row["c2_produto"].strip() and item["quantity"] == row["c2_quant"]
        assert item["productionAmount"] == pytest.approx(row["c2_quant"] - row["c2_quje"])
        assert item["startDate"] == dt.datetime.strptime(row["c2_datpri"], "%Y%m%d").date().isoformat()
        assert (item["type"] == "5") == bool(row["c2_datrf"].strip())
    one = items[3]["productionOrder"]
    found = http.get(shared.url + MRP, params={"productionOrder": one, "fields": "productionOrder,product"}, auth=PROTHEUS, headers={"TenantId": "01,01"}, timeout=10).json()  # fmt: skip
    assert found == {"items": [{"productionOrder": one, "product": items[3]["product"]}], "hasNext": False}
    other = http.get(shared.url + MRP, params={"branchId": "02", "pageSize": 1}, auth=PROTHEUS, headers={"TenantId": "01,01"}, timeout=10).json()  # fmt: skip
    assert other["items"][0]["branchId"] == "02"
    detail = http.get(f"{shared.url}{MRP}/01/{items[0]['code']}", auth=PROTHEUS, headers={"TenantId": "01,01"}, timeout=10)  # fmt: skip
    assert detail.json()["productionOrder"] == items[0]["productionOrder"]
    totvs_error(http.get(shared.url + MRP, auth=PROTHEUS, timeout=10), 400)


# --- admin touch ------------------------------------------------------------------------------------------------
def test_touch_updates_a_row_and_its_stamp(sb: SandboxProcess, http: requests.Session) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None) - dt.timedelta(seconds=1)
    since = before.strftime("%Y-%m-%d %H:%M:%S")
    assert gq_all(sb, http, tables="SB1", where=f"S_T_A_M_P_ > '{since}'") == []
    touched = sb.admin("totvs/protheus/touch", {"table": "SB1", "key": "PA0003", "changes": {"b1_desc": "SORO FISIOLOGICO 0,9% 500ML"}})  # fmt: skip
    assert touched["row"]["b1_desc"] == "SORO FISIOLOGICO 0,9% 500ML".ljust(30)
    changed = gq_all(sb, http, tables="SB1", where=f"S_T_A_M_P_ > '{since}'")
    assert [r["b1_cod"].strip() for r in changed] == ["PA0003"]
    assert changed[0]["s_t_a_m_p_"] == touched["updated_at"] and changed[0]["s_t_a_m_p_"] > before.isoformat()

    access = plant_token(sb, http)
    iso_since = before.replace(tzinfo=dt.UTC).isoformat()
    assert [p["codigo"] for p in plant_all(sb, http, access, "produtos", atualizadoDesde=iso_since)] == ["PA0003"]
    lot = gq(sb, http, tables="SB8", pageSize=1).json()["items"][0]
    key = f"{lot['b8_produto'].strip()}|{lot['b8_local']}|{lot['b8_lotectl'].strip()}"
    sb.admin("totvs/protheus/touch", {"table": "SB8", "key": key, "changes": {"B8_SALDO": 10, "b8_dtvalid": "2028-01-31"}})  # fmt: skip
    again = gq(sb, http, tables="SB8", where=f"R_E_C_N_O_ = {lot['r_e_c_n_o_']}").json()["items"][0]
    assert again["b8_saldo"] == 10 and again["b8_dtvalid"] == "20280131"
    assert [(x["lote"], x["quantidade"]) for x in plant_all(sb, http, access, "lotes", atualizadoDesde=iso_since)] == [(lot["b8_lotectl"].strip(), 10)]  # fmt: skip

    number = gq(sb, http, tables="SC2", where="C2_DATRF = ' '", pageSize=1).json()["items"][0]
    order_key = number["c2_num"] + number["c2_item"] + number["c2_sequen"]
    sb.admin("totvs/protheus/touch", {"table": "SC2", "key": order_key, "deleted": True})
    assert gq(sb, http, tables="SC2", where=f"C2_NUM = '{number['c2_num']}'").json()["items"] == []
    assert order_key not in {o["numero"] for o in plant_all(sb, http, access, "ordens-producao")}
    response = sb.session.post(f"{sb.url}/_sandbox/totvs/protheus/touch", json={"table": "SB1", "key": "NOPE"}, timeout=10)  # fmt: skip
    assert response.status_code == 400


# --- the plant's own API ------------------------------------------------------------------------------------
def test_plant_api_is_a_facade_over_branch_01(shared: SandboxProcess, http: requests.Session) -> None:
    issued = http.post(shared.url + "/plant/api/auth/token", json=PLANT, timeout=10).json()
    assert set(issued) == {"access_token", "token_type", "expires_in"} and issued["expires_in"] == 900
    access = issued["access_token"]
    totvs_error(http.post(shared.url + "/plant/api/auth/token", json={**PLANT, "client_secret": "x"}, timeout=10), 401)
    totvs_error(http.post(shared.url + "/plant/api/auth/token", json={}, timeout=10), 400)
    totvs_error(http.get(shared.url + "/plant/api/produtos", timeout=10), 401)

    produtos = plant_all(shared, http, access, "produtos")
    assert set(produtos[0]) >= {"codigo", "descricao", "unidade", "velocidadeNominal", "ativo", "atualizadoEm"}
    sb1 = gq_all(shared, http, tables="SB1")
    assert [p["codigo"] for p in produtos] == sorted(r["b1_cod"].strip() for r in sb1)
    speeds = {p["codigo"]: p["velocidadeNominal"] for p in produtos}
    assert all(speeds[r["b1_cod"].strip()] == r["b1_xvelnom"] for r in sb1 if r["b1_tipo"] == "PA")
    assert any(not p["ativo"] for p in produtos)
    dt.datetime.fromisoformat(produtos[0]["atualizadoEm"])

    ordens = plant_all(shared, http, access, "ordens-producao")
    assert len(ordens) == len(gq_all(shared, http, tables="SC2"))
    assert {o["status"] for o in ordens} == {"ABERTA", "EM_PRODUCAO", "ENCERRADA"}
    assert all(o["lote"] and o["linha"].startswith(("SPEP-", "SPPV-")) for o in ordens)
    lotes = plant_all(shared, http, access, "lotes")
    sb8 = gq_all(shared, http, tables="SB8", DeletedFilter="false")
    assert sorted(lot["lote"] for lot in lotes) == sorted(r["b8_lotectl"].strip() for r in sb8 if not r["d_e_l_e_t_"])
    assert {o["lote"] for o in ordens if o["quantidadeProduzida"] > 0} <= {r["b8_lotectl"].strip() for r in sb8}
    assert all(lot["validade"] > lot["fabricacao"] for lot in lotes)

    first = plant(shared, http, access, "ordens-producao", page=2, pageSize=4).json()["items"]
    assert first == plant(shared, http, access, "ordens-producao", pageSize=8).json()["items"][4:]
    assert len(plant(shared, http, access, "lotes").json()["items"]) == 20
    cut = sorted(o["atualizadoEm"] for o in ordens)[-5]
    recent = plant_all(shared, http, access, "ordens-producao", atualizadoDesde=cut)
    assert len(recent) == 5 and all(o["atualizadoEm"] >= cut for o in recent)
    naive = dt.datetime.fromisoformat(cut).replace(tzinfo=None).isoformat()  # no offset: Brasília time
    assert len(plant_all(shared, http, access, "ordens-producao", atualizadoDesde=naive)) == 5
    compact = dt.datetime.fromisoformat(cut).strftime("%Y-%m-%dT%H:%M:%S.%f%z")  # -0300, as strftime's %z gives
    assert len(plant_all(shared, http, access, "ordens-producao", atualizadoDesde=compact)) == 5
    unencoded = plant(shared, http, access, "ordens-producao", pageSize=100).url.split("?")[0] + "?atualizadoDesde=" + compact.replace("-0300", "+0000")  # fmt: skip
    assert http.get(unencoded, headers={"Authorization": f"Bearer {access}"}, timeout=10).status_code == 200
    totvs_error(plant(shared, http, access, "lotes", atualizadoDesde="ontem"), 400)
    totvs_error(plant(shared, http, access, "lotes", pageSize=5000), 400)


def test_plant_token_expires_after_its_ttl(sb: SandboxProcess, http: requests.Session) -> None:
    sb.configure(plant_access_ttl_seconds=0)
    response = http.post(sb.url + "/plant/api/auth/token", json=PLANT, timeout=10)
    assert response.json()["expires_in"] == 0
    totvs_error(plant(sb, http, response.json()["access_token"], "produtos"), 401)
    sb.configure(plant_access_ttl_seconds=900)
    access = plant_token(sb, http)
    assert plant(sb, http, access, "produtos").status_code == 200
    sb.admin("totvs/advance-clock", {"seconds": 901})
    totvs_error(plant(sb, http, access, "produtos"), 401)


# --- RM Educacional -----------------------------------------------------------------------------------------
def test_rm_token_refresh_basic_and_expiry(sb: SandboxProcess, http: requests.Session) -> None:
    pair = rm_token(sb, http)
    assert set(pair) == {"access_token", "expires_in", "refresh_token", "token_type"} and pair["expires_in"] == 300
    claims = json.loads(base64.urlsafe_b64decode(pair["access_token"].split(".")[1] + "=="))
    assert claims["sub"] == "mestre" and claims["exp"] - claims["iat"] == 300
    assert rm_token(sb, http, "/api/connect/token/")["token_type"] == "Bearer"
    totvs_error(http.post(sb.url + "/api/connect/token", json={**RM, "password": "x"}, timeout=10), 401)
    assert rm(sb, http, pair["access_token"], "/ProfessorContexts").status_code == 200
    assert rm(sb, http, ("mestre", "totvs"), "/ProfessorContexts").status_code == 200
    totvs_error(rm(sb, http, ("mestre", "nope"), "/ProfessorContexts"), 401)

    refreshed = http.post(sb.url + "/api/connect/token", json={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, timeout=10)  # fmt: skip
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"] != pair["refresh_token"]
    reused = http.post(sb.url + "/api/connect/token", json={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, timeout=10)  # fmt: skip
    totvs_error(reused, 401)

    sb.admin("totvs/expire-tokens", {"flavour": "rm"})
    totvs_error(rm(sb, http, refreshed.json()["access_token"], "/ProfessorContexts"), 401)
    sb.configure(rm_access_ttl_seconds=0)
    totvs_error(rm(sb, http, rm_token(sb, http)["access_token"], "/StudentContexts"), 401)
    tokens = sb.session.get(f"{sb.url}/_sandbox/totvs/tokens", timeout=10).json()["flavours"]["rm"]
    assert tokens["refreshed"] == 1 and tokens["refresh_refused"] == 1 and tokens["rejected"] >= 2


def test_rm_walks_courses_grids_periods_disciplines(shared: SandboxProcess, http: requests.Session) -> None:
    access = rm_token(shared, http)["access_token"]
    courses = rm_all(shared, http, access, "/Academics/1%7C1%7C1/Courses")
    assert courses == rm_all(shared, http, access, "/Academics/1|1|1/Courses", size=3)
    assert set(courses[0]) == {"internalId", "companyCode", "courseCode", "name", "inepCode", "levelEducationCode", "modalityCode"}  # fmt: skip
    assert "Farmácia" in {c["name"] for c in courses}
    first = rm(shared, http, access, "/Academics/1%7C1%7C1/Courses").json()
    assert list(first) == ["hasNext", "total", "items"] and len(first["items"]) == min(10, first["total"])
    technical = rm_all(shared, http, access, "/academics/1%7C1%7C2/courses")
    assert technical and not {c["courseCode"] for c in technical} & {c["courseCode"] for c in courses}
    totvs_error(rm(shared, http, access, "/Academics/9%7C9/Courses"), 404)
    assert rm(shared, http, access, "/Academics/1%7C1%7C1/Courses/1%7C1%7CFAR").json()["name"] == "Farmácia"

    grids = rm_all(shared, http, access, "/Academics/1%7C1%7C1/CurriculumGrids")
    disciplines = []
    for grid in grids:
        assert grid["periods"] and grid["courseCode"] in {c["courseCode"] for c in courses}
        for period in grid["periods"]:
            encoded = period["internalId"].replace("|", "%7C")
            rows = rm_all(shared, http, access, f"/academics/1%7C1%7C1/periods/{encoded}/griddisciplines")
            assert rows and all(r["period"] == period["periodCode"] and r["workload"] > 0 for r in rows)
            disciplines += rows
    assert len({d["internalId"] for d in disciplines}) == len(disciplines)
    assert {"disciplineCode", "disciplineName", "workload", "period"} <= set(disciplines[0])
    totvs_error(rm(shared, http, access, "/academics/1%7C1%7C2/periods/1%7CENF%7C2023%7C1/griddisciplines"), 404)


def test_rm_professors_classes_students_and_context(shared: SandboxProcess, http: requests.Session) -> None:
    access = rm_token(shared, http)["access_token"]
    professors = rm_all(shared, http, access, "/ProfessorContexts", size=7)
    assert len(professors) == 40 and professors[0]["internalId"] == "1|1|P0001"
    assert {"professorCode", "professorName", "email", "companyCode", "branchCode", "internalId"} <= set(professors[0])  # fmt: skip
    page_two = rm(shared, http, access, "/ProfessorContexts", page=2, pageSize=4).json()["items"]
    assert page_two == professors[4:8]
    classes = rm_all(shared, http, access, "/Professors/1%7C1%7CP0001/disciplineclasses")
    assert classes and {c["isFinishedTerm"] for c in classes} <= {True, False}
    assert set(classes[0]) >= {"disciplineClassCode", "classCode", "disciplineCode", "disciplineDescription", "termCode", "termId", "isFinishedTerm", "internalId"}  # fmt: skip
    klass = classes[0]["internalId"]
    students = rm_all(shared, http, access, f"/Professors/1%7C1%7CP0001/disciplineclasses/{klass.replace('|', '%7C')}/students")  # fmt: skip
    assert students and [s["diaryNumber"] for s in students] == list(range(1, len(students) + 1))
    assert set(students[0]) == {"studentCode", "studentName", "diaryNumber", "email"}
    other = next(p["internalId"] for p in professors if p["internalId"] != "1|1|P0001")
    totvs_error(rm(shared, http, access, f"/Professors/{other}/disciplineclasses/{klass}/students"), 404)
    totvs_error(rm(shared, http, access, "/Professors/1%7C1%7CP9999/disciplineclasses"), 404)

    everyone = rm_all(shared, http, access, "/StudentContexts", size=100)
    assert len(everyone) == 600 and {s["studentCode"] for s in students} <= {s["studentCode"] for s in everyone}
    context = {"CodColigada": 1, "CodFilial": 1, "CodSistema": "S"}
    assert rm(shared, http, access, "/StudentContexts", **context).json()["total"] == 600
    assert rm(shared, http, access, "/StudentContexts", CodColigada=2).json() == {"hasNext": False, "total": 0, "items": []}  # fmt: skip
    totvs_error(rm(shared, http, access, "/StudentContexts", CodSistema="G"), 400)
    ordered = rm(shared, http, access, "/StudentContexts", order="-studentName", fields="studentName", pageSize=5).json()  # fmt: skip
    names = [s["studentName"] for s in ordered["items"]]
    assert names == sorted(names, reverse=True) and all(list(s) == ["studentName"] for s in ordered["items"])


# --- shared behaviour -----------------------------------------------------------------------------------------
def test_errors_faults_and_rate_limits_use_the_totvs_model(sb: SandboxProcess, http: requests.Session) -> None:
    for path in ("/", "/rest/api/nada", "/plant/api/nada", "/api/educational/v1/Nada", "/outro"):
        totvs_error(http.get(sb.url + path, auth=PROTHEUS, timeout=10), 404)
    totvs_error(http.delete(sb.url + GQ, auth=PROTHEUS, timeout=10), 405)
    totvs_error(http.get(sb.url + "/api/connect/token", timeout=10), 405)
    sb.configure(fail_next=1)
    assert protheus_token(sb, http).status_code == 201  # token endpoints are spared (faults_on_auth off)
    failed = totvs_error(gq(sb, http, tables="SB1"), 503)
    assert failed["code"] == "503"
    assert gq(sb, http, tables="SB1").status_code == 200
    sb.configure(rate_limit=2, rate_window_seconds=60)
    sb.session.post(f"{sb.url}/_sandbox/reset-limits", timeout=10)
    assert [gq(sb, http, tables="SB1").status_code for _ in range(2)] == [200, 200]
    limited = gq(sb, http, tables="SB1")
    totvs_error(limited, 429)
    assert "Retry-After" in limited.headers
    assert rm(sb, http, ("mestre", "totvs"), "/ProfessorContexts").status_code == 200  # each flavour has its own gate
    sb.configure(rate_limit=0, error_code_type="number")
    assert gq(sb, http, tenant=None, tables="SB1").json()["code"] == 400


def test_request_log_names_the_flavour_and_masks_credentials(sb: SandboxProcess, http: requests.Session) -> None:
    sb.reset_log()
    pair = protheus_token(sb, http).json()
    gq(sb, http, auth=pair["access_token"], tables="SB1", pageSize=1)
    plant_token(sb, http)
    rm_pair = rm_token(sb, http)
    http.post(sb.url + "/api/connect/token", json={"grant_type": "refresh_token", "refresh_token": rm_pair["refresh_token"]}, timeout=10)  # fmt: skip
    gq(sb, http, tables="SB1", pageSize=1)
    log = sb.request_log()
    text = json.dumps(log)
    for secret in (PROTHEUS[1], PLANT["client_secret"], RM["password"], pair["access_token"], pair["refresh_token"], rm_pair["access_token"], rm_pair["refresh_token"]):  # fmt: skip
        assert secret not in text
    assert [e["flavour"] for e in log] == ["protheus", "protheus", "plant", "rm", "rm", "protheus"]
    assert log[0]["query"]["password"] == "***" and log[0]["query"]["username"] == "admin"
    assert log[1]["tenant"] == "01,01" and log[1]["user"] == "admin" and log[1]["auth"].startswith("Bearer eyJh…")
    assert log[2]["body"]["client_secret"] == "***" and log[3]["body"]["password"] == "***"
    assert log[5]["auth"] == "Basic admin:***"


def test_same_seed_gives_the_same_data() -> None:
    def fetch(seed: int) -> list[bytes]:
        with run_in_thread(TotvsApp(orders=30, students=50, seed=seed)) as running, requests.Session() as session:
            headers = {"TenantId": "01,02"}
            query = {"pageSize": 1000}
            out = [
                session.get(
                    running.url + GQ, params={**query, "tables": t}, auth=PROTHEUS, headers=headers, timeout=10
                ).content
                for t in ("SB1", "SC2", "SB8")
            ]
            out.append(session.get(running.url + EDU + "/StudentContexts", auth=("mestre", "totvs"), timeout=10).content)  # fmt: skip
            return out

    assert fetch(5) == fetch(5)
    assert fetch(5)[1:] != fetch(6)[1:]


def test_every_guess_is_a_flagged_switch_in_the_cli_help() -> None:
    result = CliRunner().invoke(sandbox_cli, ["totvs", "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    by_name = {p.name: p for p in sandbox_cli.commands["totvs"].params}
    guesses = {s.name for s in TOTVS_OVERRIDES + TOTVS_SWITCHES if s.guess}
    assert {"protheus_refresh_rotates", "protheus_page_size_default", "page_size_max", "rm_page_size_default", "protheus_row_stamp", "plant_access_ttl_seconds"} <= guesses  # fmt: skip
    for name in guesses:
        assert by_name[name].help.endswith("(guess)"), name
    assert not by_name["protheus_access_ttl_seconds"].help.endswith("(guess)")
    assert by_name["port"].default == 8767
    for flag in ("--protheus-user", "--protheus-password", "--plant-client-id", "--plant-client-secret", "--rm-user", "--rm-password", "--orders", "--students"):  # fmt: skip
        assert flag in result.output
