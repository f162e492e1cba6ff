"""The ProExtend sandbox over real sockets: what a client of the integration API sees (seed proextend-sync-flow.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ponte.testing import SandboxProcess
from ponte.testing.in_process import SandboxThread

KEY = "pex_sandbox_key"
AUTH = {"Authorization": f"Bearer {KEY}"}

UNITS = [
    {"code": "CAMPUS_CENTRO", "name": "Campus Centro", "address": "Rua Principal, 123 - Centro, São Paulo - SP"},
    {"code": "CAMPUS_NORTE", "name": "Campus Zona Norte"},
]
AREAS = [
    {"code": "TECH", "name": "Tecnologia da Informação", "unit_code": "CAMPUS_CENTRO"},
    {"code": "HEALTH", "name": "Ciências da Saúde", "unit_code": "CAMPUS_NORTE"},
]
COURSES = [
    {"code": "CC001", "name": "Ciência da Computação", "area_code": "TECH", "unit_code": "CAMPUS_CENTRO",
     "responsible_code": "PROF001"},
    {"code": "ENF001", "name": "Enfermagem", "area_code": "HEALTH", "unit_code": "CAMPUS_NORTE",
     "responsible_email": "coord.enf@faculdade.edu.br"},
]  # fmt: skip
SUBJECTS = [
    {"code": "ALG001", "name": "Algoritmos e Programação I", "course_code": "CC001"},
    {"code": "LIBRAS", "name": "Língua Brasileira de Sinais", "course_code": "CC001", "type": "optativa"},
]
PROFESSORS = [
    {"code": "PROF001", "name": "Dr. João Silva", "email": "joao.silva@faculdade.edu.br", "cpf": "12345678901",
     "area_code": "TECH"},
    {"code": "PROF002", "name": "Dra. Maria Santos", "email": "maria.santos@faculdade.edu.br", "cpf": "98765432100"},
]  # fmt: skip
STUDENTS = [
    {"code": f"ALU{i}", "name": f"Aluno {i}", "email": f"aluno{i}@aluno.edu.br", "course_code": "CC001"}
    for i in range(1, 4)
]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxThread.start("proextend", "--set", "rate_limit=0") as running:
        yield running


@pytest.fixture
def sb(sandbox: SandboxProcess) -> SandboxProcess:
    """The shared server with its data and switches back to the start."""
    sandbox.admin("proextend/reset")
    sandbox.configure(rate_limit=0, batch_error_style="dotted", batch_mode="atomic")
    return sandbox


def sync(sb: SandboxProcess, entity: str, records: list[dict[str, Any]], **headers: str) -> requests.Response:
    return sb.session.post(f"{sb.base_url}/{entity}/sync", json={entity: records}, headers=headers or AUTH, timeout=10)


def get(sb: SandboxProcess, path: str, **params: Any) -> requests.Response:
    return sb.session.get(f"{sb.base_url}{path}", params=params, headers=AUTH, timeout=10)


def setup_all(sb: SandboxProcess) -> None:
    for entity, records in (("units", UNITS), ("areas", AREAS), ("courses", COURSES), ("subjects", SUBJECTS),
                            ("professors", PROFESSORS), ("students", STUDENTS)):  # fmt: skip
        assert sync(sb, entity, records).status_code == 200, entity


def test_missing_or_wrong_key_is_401_in_the_error_shape(sb: SandboxProcess) -> None:
    for headers in ({}, {"Authorization": "Bearer pex_wrong"}, {"Authorization": KEY}):
        response = sb.session.post(f"{sb.base_url}/units/sync", json={"units": UNITS}, headers=headers, timeout=10)
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False and body["message"]
    assert sb.session.get(f"{sb.url}/other/api/integration/v1/sync-status", headers=AUTH).status_code == 404


def test_valid_batch_creates_then_upserts_by_code(sb: SandboxProcess) -> None:
    first = sync(sb, "units", UNITS)
    assert first.status_code == 200
    assert first.json() == {
        "success": True,
        "message": "Sincronização de unidades concluída.",
        "data": {"created": 2, "updated": 0, "failed": 0},
    }
    renamed = [{**UNITS[0], "name": "Campus Central"}, {"code": "CAMPUS_SUL", "name": "Campus Sul"}]
    second = sync(sb, "units", renamed)
    assert second.json()["data"] == {"created": 1, "updated": 1, "failed": 0}
    unit = get(sb, "/units/CAMPUS_CENTRO").json()["data"]
    assert unit["name"] == "Campus Central" and unit["address"] == UNITS[0]["address"]
    listing = get(sb, "/units", search="campus", per_page=2, page=1).json()
    assert [u["code"] for u in listing["data"]] == ["CAMPUS_CENTRO", "CAMPUS_NORTE"]
    assert listing["meta"]["total"] == 3 and listing["meta"]["last_page"] == 2
    assert get(sb, "/units/NOPE").status_code == 404


def test_one_bad_cpf_is_422_naming_the_record_and_stores_nothing(sb: SandboxProcess) -> None:
    setup_all(sb)
    batch = [
        {"code": "PROF010", "name": "Ok", "email": "ok@faculdade.edu.br", "cpf": "11122233344"},
        {"code": "PROF011", "name": "Bad", "email": "bad@faculdade.edu.br", "cpf": "123.456.789-01"},
    ]
    response = sync(sb, "professors", batch)
    assert response.status_code == 422
    assert response.json() == {
        "success": False,
        "message": "Erro de validação",
        "errors": {"professors.1.cpf": ["CPF deve conter exatamente 11 dígitos numéricos"]},
    }
    assert get(sb, "/professors/PROF010").status_code == 404  # atomic: nothing stored
    sb.configure(batch_error_style="per_record")
    errors = sync(sb, "professors", batch).json()["errors"]
    assert errors == {"1": {"code": "PROF011", "cpf": ["CPF deve conter exatamente 11 dígitos numéricos"]}}
    sb.configure(batch_error_style="whole_batch", batch_mode="partial")
    partial = sync(sb, "professors", batch)
    assert partial.status_code == 200
    assert partial.json()["data"] == {
        "created": 1,
        "updated": 0,
        "failed": 1,
        "errors": {"cpf": ["CPF deve conter exatamente 11 dígitos numéricos"]},
    }


def test_validation_and_uniqueness_rules(sb: SandboxProcess) -> None:
    setup_all(sb)
    taken = {"code": "ALU9", "name": "X", "email": "JOAO.SILVA@faculdade.edu.br", "course_code": "CC001",
             "cpf": "98765432100"}  # fmt: skip
    errors = sync(sb, "students", [taken]).json()["errors"]
    assert errors == {
        "students.0.email": ["Email já cadastrado na plataforma"],
        "students.0.cpf": ["CPF já cadastrado na plataforma"],
    }
    assert sync(sb, "professors", [{**PROFESSORS[0], "name": "Renamed"}]).json()["data"]["updated"] == 1
    bad = [
        {"code": "X1", "name": "X", "course_code": "CC001", "type": "teorica"},
        {"code": "C9", "name": "C", "area_code": "TECH", "unit_code": "CAMPUS_CENTRO"},
    ]
    assert sync(sb, "subjects", bad[:1]).json()["errors"] == {
        "subjects.0.type": ["O tipo deve ser um dos seguintes: obrigatoria, optativa, eletiva."]
    }
    assert set(sync(sb, "courses", bad[1:]).json()["errors"]) == {
        "courses.0.responsible_email",
        "courses.0.responsible_code",
    }
    enrollment = {"code": "E1", "subject_code": "ALG001", "professor_code": "PROF001", "semester": "2025-1",
                  "student_codes": ["ALU1"]}  # fmt: skip
    assert sync(sb, "enrollments", [enrollment]).json()["errors"] == {
        "enrollments.0.semester": ["O semestre deve estar no formato YYYY.N (ex: 2025.1)."]
    }
    too_many = [{"code": f"U{i}", "name": "u"} for i in range(101)]
    over = sync(sb, "units", too_many)
    assert over.status_code == 422 and "units" in over.json()["errors"]


def test_dependency_error_when_synced_out_of_order(sb: SandboxProcess) -> None:
    sync(sb, "units", UNITS)
    response = sync(sb, "courses", COURSES[:1])
    assert response.status_code == 422
    assert response.json()["errors"] == {"courses.0.area_code": ["A área especificada não existe"]}
    sb.configure(batch_error_style="whole_batch")
    assert sync(sb, "courses", COURSES[:1]).json() == {
        "success": False,
        "message": "Erro de validação",
        "errors": {"area_code": ["A área especificada não existe"]},
    }


def test_enrollments_replace_the_whole_student_list(sb: SandboxProcess) -> None:
    setup_all(sb)
    enrollment = {"code": "ALG001-2025.1", "subject_code": "ALG001", "professor_code": "PROF001",
                  "semester": "2025.1", "student_codes": ["ALU1", "ALU2"]}  # fmt: skip
    assert sync(sb, "enrollments", [enrollment]).json()["data"]["created"] == 1
    changed = {**enrollment, "professor_code": "PROF002", "student_codes": ["ALU3", "ALU2"]}
    assert sync(sb, "enrollments", [changed]).json()["data"] == {"created": 0, "updated": 1, "failed": 0}
    stored = get(sb, "/enrollments/ALG001-2025.1").json()["data"]
    assert stored["student_codes"] == ["ALU3", "ALU2"] and stored["professor_code"] == "PROF002"
    assert [e["code"] for e in get(sb, "/professors/PROF002/subjects").json()["data"]] == ["ALG001-2025.1"]
    assert get(sb, "/professors/PROF001/subjects").json()["data"] == []
    unknown = sync(sb, "enrollments", [{**enrollment, "student_codes": ["ALU1", "GHOST"]}])
    assert unknown.json()["errors"] == {"enrollments.0.student_codes.1": ["O aluno especificado não existe"]}


def test_sync_status_totals(sb: SandboxProcess) -> None:
    before = get(sb, "/sync-status").json()["data"]
    assert before["last_sync"] is None and before["entities"]["units"] == {"total": 0}
    setup_all(sb)
    data = get(sb, "/sync-status").json()["data"]
    assert data["entities"] == {
        "units": {"total": 2},
        "areas": {"total": 2},
        "courses": {"total": 2},
        "subjects": {"total": 2},
        "professors": {"total": 2},
        "students": {"total": 3},
        "enrollments": {"total": 0},
    }
    assert data["last_sync"]["minutes_ago"] == 0 and data["last_sync"]["timestamp"].endswith("Z")
    assert data["api_client"] == {"name": "Integração - Acesso Completo", "scope": "full", "rate_limit": 0}
    admin = sb.session.get(f"{sb.url}/_sandbox/proextend/students", timeout=10).json()
    assert admin["total"] == 3 and admin["records"][0]["code"] == "ALU1"


def test_rate_limit_per_key_is_429_with_retry_after() -> None:
    with SandboxProcess.start("proextend", "--set", "rate_limit=3", "--api-key", KEY, "--api-key", "pex_other") as sb:
        statuses = [get(sb, "/sync-status").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = get(sb, "/sync-status")
        assert refused.json()["success"] is False and int(refused.headers["Retry-After"]) > 0
        other = sb.session.get(f"{sb.base_url}/sync-status", headers={"Authorization": "Bearer pex_other"})
        assert other.status_code == 200
        assert other.json()["data"]["api_client"]["rate_limit"] == 3
