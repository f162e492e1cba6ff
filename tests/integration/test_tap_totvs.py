"""tap-totvs, all three flavours, as users run it: the console script against the TOTVS sandbox over sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ponte.testing import BackgroundTap, SandboxProcess
from ponte.testing.in_process import SandboxThread, discover_in_process, run_tap_in_process
from ponte.testing.singer_process import SingerRun

FAST = {"backoff_base_seconds": 0.05}
ACADEMICS = ["1|1|1", "1|1|2"]  # the sandbox's RM: graduação and ensino técnico of coligada 1, filial 1


@pytest.fixture(scope="module")
def totvs() -> Iterator[SandboxProcess]:
    with SandboxThread.start("totvs") as sandbox:
        yield sandbox


def config(sandbox: SandboxProcess, flavour: str, **extra: Any) -> dict[str, Any]:
    base = {
        "protheus": {"base_url": f"{sandbox.url}/rest", "username": "admin", "password": "totvs-sandbox"},
        "plant": {"base_url": f"{sandbox.url}/plant/api", "client_id": "plant-client", "client_secret": "plant-secret"},
        "rm": {"base_url": sandbox.url, "username": "mestre", "password": "totvs", "academic_ids": ACADEMICS},
    }[flavour]
    return {"flavour": flavour, **FAST, **base, **extra}


def run(sandbox: SandboxProcess, flavour: str, streams: set[str] | None = None, **kwargs: Any) -> SingerRun:
    extra = kwargs.pop("extra", {})
    result = run_tap_in_process("tap-totvs", config(sandbox, flavour, **extra), streams=streams, **kwargs)
    return result


def data_requests(sandbox: SandboxProcess, fragment: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log() if fragment in e["path"] and "token" not in e["path"]]


def protheus_rows(sandbox: SandboxProcess, table: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a table, read directly (Basic auth), to compare with what the tap emitted."""
    rows, page = [], 1
    while True:
        answer = requests.get(
            f"{sandbox.url}/rest/api/framework/v1/genericQuery",
            params={"tables": table, "page": page, "pageSize": 1000, **params},
            headers={"TenantId": "01,01"},
            auth=("admin", "totvs-sandbox"),
            timeout=10,
        )
        answer.raise_for_status()
        body = answer.json()
        rows += body["items"]
        if not body["hasNext"]:
            return rows
        page += 1


@pytest.mark.parametrize("flavour", ["protheus", "plant", "rm"])
def test_every_stream_of_every_flavour_lands_records(totvs: SandboxProcess, flavour: str) -> None:
    result = run(totvs, flavour)
    assert result.returncode == 0, result.stderr
    catalog = discover_in_process("tap-totvs", config(totvs, flavour))
    streams = {s["tap_stream_id"] for s in catalog["streams"]}
    counts = result.counts()
    assert streams and all(counts.get(s, 0) > 0 for s in streams), counts


def test_protheus_paging_ends_on_has_next_false_and_quirks_are_cleaned(totvs: SandboxProcess) -> None:
    totvs.reset_log()
    result = run(totvs, "protheus", {"ordens_producao", "lotes"}, extra={"auth_method": "basic"})
    assert result.returncode == 0, result.stderr
    pages = [e for e in data_requests(totvs, "genericQuery") if _q(e, "tables") == "SC2"]
    expected = protheus_rows(totvs, "SC2", DeletedFilter="false")
    emitted = result.records("ordens_producao")
    assert len(emitted) == len(expected) > 0
    keys = {(r["c2_num"], r["c2_item"], r["c2_sequen"]) for r in emitted}
    assert keys == {(r["c2_num"].strip(), r["c2_item"].strip(), r["c2_sequen"].strip()) for r in expected}
    # space-padded codes trimmed, YYYYMMDD dates as ISO, blank dates as null, deletions marked
    assert all(r["c2_num"] == r["c2_num"].strip() for r in emitted)
    assert all(r["c2_emissao"] is None or r["c2_emissao"][4] == "-" for r in emitted)
    assert any(r["c2_datrf"] is None for r in emitted), "open orders have no real end date"
    deleted = [r for r in emitted if r["d_e_l_e_t_"] == "*"]
    assert deleted and all(r["_sdc_deleted_at"] for r in deleted)
    assert not any(r.get("_sdc_deleted_at") for r in emitted if r["d_e_l_e_t_"] != "*")
    assert [_q(e, "page") for e in pages] == ["1"]  # 120 rows, pageSize 500: hasNext was false at once


def test_rm_pages_until_has_next_is_false(totvs: SandboxProcess) -> None:
    totvs.reset_log()
    result = run(totvs, "rm", {"alunos"})
    assert result.returncode == 0, result.stderr
    pages = data_requests(totvs, "/StudentContexts")
    total = requests.get(
        f"{totvs.url}/api/educational/v1/StudentContexts",
        params={"pageSize": 1},
        auth=("mestre", "totvs"),
        timeout=10,
    ).json()["total"]
    ids = [r["internalId"] for r in result.records("alunos")]
    assert len(ids) == len(set(ids)) == total > 100
    assert [_q(e, "page") for e in pages] == [str(n) for n in range(1, len(pages) + 1)]
    assert len(pages) == -(-total // 100)  # ceil: the last page said hasNext=false and paging stopped there


def test_rm_reads_courses_grids_and_periods_of_every_listed_academic(totvs: SandboxProcess) -> None:
    totvs.reset_log()
    result = run(totvs, "rm", {"cursos", "periodos", "disciplinas_grade", "alunos"})
    assert result.returncode == 0, result.stderr
    courses = result.records("cursos")
    assert {c["academic_id"] for c in courses} == set(ACADEMICS)
    # students come from every academic: each one's course is among the courses read
    assert {s["courseCode"] for s in result.records("alunos")} <= {c["courseCode"] for c in courses}
    periods = {p["internalId"]: p["academic_id"] for p in result.records("periodos")}
    disciplines = result.records("disciplinas_grade")
    assert disciplines and all(d["academic_id"] == periods[d["periodInternalId"]] for d in disciplines)
    asked = {e["path"].split("/")[5] for e in data_requests(totvs, "/Courses")}
    assert asked == {"1|1|1", "1|1|2"} or asked == {"1%7C1%7C1", "1%7C1%7C2"}, asked

    # from the environment, as a .env line sets it
    rest = {k: v for k, v in config(totvs, "rm").items() if k != "academic_ids"}
    env = {"TAP_TOTVS_ACADEMIC_IDS": '["1|1|2"]'}
    technical = run_tap_in_process("tap-totvs", rest, streams={"cursos"}, args=("--config", "ENV"), env=env)
    assert technical.returncode == 0, technical.stderr
    assert {c["academic_id"] for c in technical.records("cursos")} == {"1|1|2"}

    unset = run(totvs, "rm", {"cursos"}, extra={"academic_ids": []})
    assert unset.returncode == 2
    assert "stream 'cursos' is read once per value of setting 'academic_ids' (TAP_TOTVS_ACADEMIC_IDS)" in unset.stderr
    assert "Traceback" not in unset.stderr and "| ERROR" in unset.stderr


def test_protheus_incremental_run_reads_only_changed_rows(totvs: SandboxProcess) -> None:
    first = run(totvs, "protheus", {"produtos"})
    assert first.returncode == 0, first.stderr
    product = first.records("produtos")[2]
    touched = totvs.session.post(
        f"{totvs.url}/_sandbox/totvs/protheus/touch",
        json={"table": "SB1", "key": product["b1_cod"], "changes": {"B1_XVELNOM": 321.0}},
        timeout=10,
    )
    touched.raise_for_status()
    totvs.reset_log()
    second = run(totvs, "protheus", {"produtos"}, state=first.last_state)
    assert second.returncode == 0, second.stderr
    assert [(r["b1_cod"], r["b1_xvelnom"]) for r in second.records("produtos")] == [(product["b1_cod"], 321.0)]
    wheres = [_q(e, "where") for e in data_requests(totvs, "genericQuery")]
    assert wheres and all(w.startswith("S_T_A_M_P_ >= '") for w in wheres)


def test_plant_incremental_uses_the_largest_update_time(totvs: SandboxProcess) -> None:
    first = run(totvs, "plant", {"produtos"})
    assert first.returncode == 0, first.stderr
    bookmark = first.last_state["bookmarks"]["produtos"]["replication_key_value"]
    assert bookmark == max(r["atualizadoEm"] for r in first.records("produtos"))
    totvs.reset_log()
    second = run(totvs, "plant", {"produtos"}, state=first.last_state)
    assert second.returncode == 0, second.stderr
    assert len(second.records("produtos")) < len(first.records("produtos"))
    assert all("atualizadoDesde" in e["query"] for e in data_requests(totvs, "/plant/api/produtos"))


@pytest.mark.parametrize(
    ("flavour", "stream", "fragment", "args"),
    [
        # 3,000 orders are 6 pages; 150 ms per answer keeps the tap mid-run when its first records arrive
        ("protheus", "ordens_producao", "genericQuery", ("--orders", "3000", "--latency-ms", "150")),
        # hundreds of class lists: the run is long enough by itself
        ("rm", "turma_alunos", "/api/educational", ()),
    ],
)
def test_a_token_expiring_mid_run_is_renewed_and_the_request_retried_once(
    flavour: str, stream: str, fragment: str, args: tuple[str, ...]
) -> None:
    with SandboxThread.start("totvs", *args) as sandbox:
        expected = run(sandbox, flavour, {stream}).counts()[stream]
        sandbox.reset_log()
        with BackgroundTap("tap-totvs", config(sandbox, flavour), {stream}) as tap:
            tap.wait_for_records(1)
            expire = sandbox.session.post(
                f"{sandbox.url}/_sandbox/totvs/expire-tokens", json={"flavour": flavour}, timeout=10
            )
            expire.raise_for_status()
            result = tap.finish()
        assert result.returncode == 0, result.stderr
        assert result.counts()[stream] == expected
        statuses = [e["status"] for e in data_requests(sandbox, fragment)]
        assert expire.json()["expired"]
        assert statuses.count(401) == 1, "one refused request, then a new token and one retry"
        assert statuses[-1] == 200


def test_totvs_format_error_is_shown_clearly(totvs: SandboxProcess) -> None:
    result = run(totvs, "protheus", {"produtos"}, extra={"tenant_id": "99,99"})
    assert result.returncode == 4
    last = result.stderr.strip().splitlines()[-1]
    assert "400" in last and "stream 'produtos'" in last and "tenant" in last.lower()
    assert "Traceback" not in result.stderr


def _q(entry: dict[str, Any], name: str) -> Any:
    value = entry["query"].get(name)
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def test_a_short_password_is_not_masked_inside_the_plugin_name_and_is_called_weak(totvs: SandboxProcess) -> None:
    # RM's sandbox password is `totvs`: masking it inside words turned every `tap-totvs:` error into `tap-****:`
    result = run(totvs, "rm", {"cursos"}, extra={"base_url": f"{totvs.url}/nowhere"})
    assert result.returncode != 0
    assert "tap-****" not in result.stderr
    assert "tap-totvs: the token endpoint refused" in result.stderr
    assert "tap-totvs: setting 'password' holds a weak secret (5 characters)" in result.stderr
