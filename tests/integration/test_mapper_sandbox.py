"""The shipped mappings on real tap output: tap-totvs (RM) and tap-bling against their sandboxes, piped through
`ponte-mapper` exactly as `meltano run tap-x <mapping> target-y` pipes them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ponte.testing import SandboxProcess, SingerRun, bling_tokens, console_script, run_tap

ROOT = Path(__file__).resolve().parents[2]


def pipe_through_mapper(tap_run: SingerRun, mapping: str, tmp_path: Path) -> SingerRun:
    config = tmp_path / "mapper.json"
    config.write_text(json.dumps({"mapping": mapping}))
    stdin = "".join(json.dumps(m) + "\n" for m in tap_run.messages)
    process = subprocess.run(
        [console_script("ponte-mapper"), "--config", str(config)],
        input=stdin.encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    out = [json.loads(line) for line in process.stdout.splitlines() if line.startswith(b"{")]
    return SingerRun(process.returncode, process.stderr.decode(errors="replace"), out)


@pytest.fixture(scope="module")
def totvs() -> Iterator[SandboxProcess]:
    with SandboxProcess.start("totvs") as sandbox:
        yield sandbox


def test_totvs_rm_becomes_the_seven_proextend_entities(totvs: SandboxProcess, tmp_path: Path) -> None:
    config = {
        "flavour": "rm",
        "base_url": totvs.url,
        "username": "mestre",
        "password": "totvs",
        "academic_ids": ["1|1|1", "1|1|2"],
        "backoff_base_seconds": 0.05,
    }
    tap = run_tap("tap-totvs", config)
    assert tap.returncode == 0, tap.stderr
    run = pipe_through_mapper(tap, "transforms/totvs-to-proextend.yml", tmp_path)
    assert run.returncode == 0, run.stderr
    entities = ["units", "areas", "courses", "subjects", "professors", "students", "enrollments"]
    assert set(run.counts()) == set(entities)  # nothing of grades_curriculares or periodos leaks through
    assert sorted(m["stream"] for m in run.of_type("SCHEMA")) == sorted(entities)

    units = run.records("units")
    assert len(units) == len({u["code"] for u in units}) >= 1  # many courses, each unit once
    assert {c["unit_code"] for c in run.records("courses")} <= {u["code"] for u in units}
    assert {c["area_code"] for c in run.records("courses")} <= {a["code"] for a in run.records("areas")}
    assert [c["code"] for c in run.records("courses")] == sorted({c["courseCode"] for c in tap.records("cursos")})
    subjects = run.records("subjects")
    assert {s["type"] for s in subjects} <= {"obrigatoria", "optativa", "eletiva"}
    assert len(subjects) == len({d["disciplineCode"] for d in tap.records("disciplinas_grade")})
    professors = run.records("professors")
    assert len(professors) == len(tap.records("professores"))
    # RM has no CPF: transforms/lookups/rm-professor-cpf.csv gives every sandbox professor one (11 digits)
    assert all(isinstance(p["cpf"], str) and len(p["cpf"]) == 11 and p["cpf"].isdigit() for p in professors)
    assert len({p["cpf"] for p in professors}) == len(professors)
    assert len(run.records("students")) == len(tap.records("alunos"))

    expected: dict[str, set[str]] = {}
    for row in tap.records("turma_alunos"):
        expected.setdefault(row["disciplineClassInternalId"], set()).add(row["studentCode"])
    turmas = {t["internalId"]: t for t in tap.records("turmas")}
    enrollments = run.records("enrollments")
    assert len(enrollments) == len(turmas)
    for enrollment in enrollments:
        turma = turmas[enrollment["code"]]
        assert enrollment["student_codes"] == sorted(expected.get(enrollment["code"], set()))
        assert enrollment["subject_code"] == turma["disciplineCode"]
        assert enrollment["professor_code"] == turma["professorInternalId"].split("|")[-1]
        assert enrollment["semester"] == turma["termCode"].replace("-", ".")
    assert any(e["student_codes"] for e in enrollments)
    # grouped output is written at the end: the tap's last STATE comes after every record
    assert run.messages[-1] == {"type": "STATE", "value": tap.last_state}


def test_bling_produtos_become_retailportal_products(tmp_path: Path) -> None:
    accounts = ("loja-matriz", "loja-filial")
    with SandboxProcess.start("bling", "--products", "40", "--set", "rate_limit=1000") as bling:
        bling_tokens.seed_tokens(bling, tmp_path / "tokens.json", accounts)
        config = {
            "accounts": [{"name": name} for name in accounts],
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "base_url": bling.base_url,
            "authorize_url": f"{bling.base_url}/oauth/authorize",
            "token_store_path": str(tmp_path / "tokens.json"),
            "state_dir": str(tmp_path / "state"),
            "requests_per_second": 1000,
            "backoff_base_seconds": 0.05,
        }
        tap = run_tap("tap-bling", config, streams={"produtos", "depositos"})
    assert tap.returncode == 0, tap.stderr
    run = pipe_through_mapper(tap, "transforms/bling-to-retailportal.yml", tmp_path)
    assert run.returncode == 0, run.stderr
    assert set(run.counts()) == {"products"}
    assert "stream=depositos dropped" in run.stderr
    source = {(p["conta"], p["id"]): p for p in tap.records("produtos")}
    kept = [p for p in source.values() if p.get("situacao") != "E"]
    products = run.records("products")
    assert len(products) == len(kept) > 0  # deleted products (situacao E) are filtered out
    for product in products:
        assert isinstance(product["erpId"], int) and not isinstance(product["erpId"], bool)
        original = source[(product["account"], product["erpId"])]
        assert product["description"] == original["nome"]
        assert product["sku"] == original.get("codigo")
        assert product["active"] is (original["situacao"] == "A")
        assert product["barcode"] is None or product["barcode"] == original["gtin"].strip()
        stock = (original.get("estoque") or {}).get("saldoVirtualTotal")
        assert product["stock"] == stock
    assert {p["account"] for p in products} == set(accounts)
    (schema,) = run.of_type("SCHEMA")
    assert schema["key_properties"] == ["erpId"]
    assert schema["schema"]["properties"]["erpId"]["type"] == ["integer"]
