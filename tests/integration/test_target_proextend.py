"""target-proextend against the ProExtend sandbox, its entry point called in-process (the sandbox in a thread);
one test runs the console script in a subprocess, as users and Meltano do.

Each test asserts what an operator sees: what the sandbox stored, the requests it received, the dead-letter
file, the STATE line and the exit code.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ponte.testing import SandboxProcess, api_targets, console_script
from ponte.testing.cli import ponte_cli
from ponte.testing.in_process import SandboxThread

KEY = "pex_sandbox_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ORDER = ["units", "areas", "courses", "subjects", "professors", "students", "enrollments"]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxThread.start("proextend", "--set", "rate_limit=0") as running:
        yield running


@pytest.fixture
def sb(server: SandboxProcess) -> SandboxProcess:
    """The shared sandbox, empty, with its default switches and a fresh request log."""
    server.admin("proextend/reset")
    server.configure(rate_limit=0, batch_error_style="dotted", batch_mode="atomic", cpf_check_digits=False)
    server.reset_log()
    return server


# -- helpers ----------------------------------------------------------------------------------------------
def write_config(tmp_path: Path, sb: SandboxProcess, **extra: Any) -> Path:
    return api_targets.write_config(tmp_path, instituicao="demo", api_key=KEY, base_url=sb.base_url, **extra)


def record(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": data}


def run_target(config: Path, messages: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    source = api_targets.write_messages(tmp_path / f"input-{len(list(tmp_path.glob('input-*')))}.jsonl", messages)
    return api_targets.run_api_target_in_process("target-proextend", config, source)


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    return api_targets.read_jsonl(tmp_path / "dl.jsonl")


def stored(sb: SandboxProcess, entity: str) -> dict[str, dict[str, Any]]:
    response = sb.session.get(f"{sb.url}/_sandbox/proextend/{entity}", timeout=10)
    response.raise_for_status()
    return {row["code"]: row for row in response.json()["records"]}


def sync_calls(sb: SandboxProcess) -> list[tuple[str, int]]:
    """(entity, status) of every POST .../sync the sandbox received, in order."""
    return [
        (entry["path"].rsplit("/", 2)[-2], entry["status"])
        for entry in sb.request_log()
        if entry["method"] == "POST" and entry["path"].endswith("/sync")
    ]


def cpf(rng: random.Random) -> str:
    """A CPF with valid check digits."""
    digits = [rng.randrange(10) for _ in range(9)]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        digits.append((total * 10) % 11 % 10)
    return "".join(map(str, digits))


def world(students: int = 4) -> dict[str, list[dict[str, Any]]]:
    """A small, consistent data set of the seven entities (codes ALU1..ALUn for students)."""
    rng = random.Random(7)
    return {
        "units": [{"code": "U1", "name": "Campus Centro"}, {"code": "U2", "name": "Campus Norte"}],
        "areas": [
            {"code": "TECH", "name": "Tecnologia", "unit_code": "U1"},
            {"code": "HEALTH", "name": "Saúde", "unit_code": "U2"},
        ],
        "courses": [
            {
                "code": "CC001",
                "name": "Computação",
                "area_code": "TECH",
                "unit_code": "U1",
                "responsible_email": "coord.cc@faculdade.edu.br",
            },
            {
                "code": "ENF001",
                "name": "Enfermagem",
                "area_code": "HEALTH",
                "unit_code": "U2",
                "responsible_email": "coord.enf@faculdade.edu.br",
            },
        ],
        "subjects": [
            {"code": "ALG001", "name": "Algoritmos", "course_code": "CC001"},
            {"code": "ANA001", "name": "Anatomia", "course_code": "ENF001"},
        ],
        "professors": [
            {
                "code": "PROF001",
                "name": "João Silva",
                "email": "joao@faculdade.edu.br",
                "cpf": cpf(rng),
                "area_code": "TECH",
            },
            {"code": "PROF002", "name": "Maria Santos", "email": "maria@faculdade.edu.br", "cpf": cpf(rng)},
        ],
        "students": [
            {"code": f"ALU{i}", "name": f"Aluno {i}", "email": f"aluno{i}@aluno.edu.br", "course_code": "CC001"}
            for i in range(1, students + 1)
        ],
        "enrollments": [
            {
                "code": "ALG001-2025.1",
                "subject_code": "ALG001",
                "professor_code": "PROF001",
                "semester": "2025.1",
                "student_codes": ["ALU1", "ALU2"],
            },
        ],
    }


def messages_of(data: dict[str, list[dict[str, Any]]], *streams: str) -> list[dict[str, Any]]:
    return [record(stream, row) for stream in streams or data for row in data[stream]]


# -- tests ------------------------------------------------------------------------------------------------
def test_shuffled_streams_are_sent_in_dependency_order(sb: SandboxProcess, tmp_path: Path) -> None:
    data = world()
    messages = messages_of(data)
    random.Random(1).shuffle(messages)
    assert messages[0]["stream"] == "enrollments"  # the input really is out of order: the last entity first
    state = {"type": "STATE", "value": {"bookmarks": {"enrollments": {"replication_key_value": "2026-01-01"}}}}
    result = run_target(write_config(tmp_path, sb), [*messages, state], tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [state["value"]]  # the bare value
    for entity in ORDER:
        assert set(stored(sb, entity)) == {row["code"] for row in data[entity]}, entity
    assert sync_calls(sb) == [(entity, 200) for entity in ORDER]  # one call each, in order, no 422
    assert dead_letters(tmp_path) == []


@pytest.mark.parametrize("style", ["dotted", "per_record", "whole_batch"])
def test_one_professor_the_api_refuses_is_dead_lettered_and_the_other_99_land(
    sb: SandboxProcess, tmp_path: Path, style: str
) -> None:
    sb.configure(cpf_check_digits=True, batch_error_style=style)
    rng = random.Random(style)
    professors = [
        {"code": f"P{i:03}", "name": f"Prof {i}", "email": f"p{i}@faculdade.edu.br", "cpf": cpf(rng)}
        for i in range(100)
    ]
    bad = professors[37]
    bad["cpf"] = bad["cpf"][:10] + str((int(bad["cpf"][10]) + 1) % 10)  # 11 digits, wrong check digit
    config = write_config(tmp_path, sb, fail_on_dead_letters=True)
    result = run_target(config, messages_of({"professors": professors}), tmp_path)

    assert result.returncode == 6, result.stderr[-3000:]  # fail_on_dead_letters: the good ones still landed
    assert set(stored(sb, "professors")) == {p["code"] for p in professors} - {"P037"}
    [letter] = dead_letters(tmp_path)
    assert letter["record"] == bad and letter["entity"] == "professors" and letter["status"] == "open"
    assert "P037" in letter["reason"] and "CPF inválido" in letter["reason"] and "HTTP 422" in letter["reason"]
    assert "code: P037" not in letter["reason"]  # per_record's `"code": "P037"` names the record, it is no error
    assert letter["api_response"]["status"] == 422
    assert "CPF inválido" in json.dumps(letter["api_response"], ensure_ascii=False)
    calls = sync_calls(sb)
    if style == "whole_batch":  # no record named: the batch is halved until the culprit is alone
        assert len(calls) > 3 and calls.count(("professors", 422)) >= 7
    else:  # the 422 names it: one retry with the other 99
        assert calls == [("professors", 422), ("professors", 200)]
    assert "dead-lettered" in result.stderr


def test_child_of_a_refused_parent_is_dead_lettered_not_sent(sb: SandboxProcess, tmp_path: Path) -> None:
    data = {
        "units": [{"code": "U1", "name": "Campus Centro"}],
        "areas": [
            {"code": "TECH", "name": "Tecnologia", "unit_code": "U1"},
            {"code": "GHOST", "name": "Área fantasma", "unit_code": "NO_SUCH_UNIT"},
        ],
        "courses": [
            {
                "code": "CC001",
                "name": "Computação",
                "area_code": "TECH",
                "unit_code": "U1",
                "responsible_email": "coord@faculdade.edu.br",
            },
            {
                "code": "ORPHAN1",
                "name": "Órfão",
                "area_code": "GHOST",
                "unit_code": "U1",
                "responsible_email": "coord@faculdade.edu.br",
            },
        ],
    }
    result = run_target(write_config(tmp_path, sb), messages_of(data), tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert set(stored(sb, "areas")) == {"TECH"}
    assert set(stored(sb, "courses")) == {"CC001"}
    # the refused area cost one 422; the course batch went out once, without the orphan, and passed
    assert sync_calls(sb) == [("units", 200), ("areas", 422), ("areas", 200), ("courses", 200)]
    letters = {letter["record"]["code"]: letter for letter in dead_letters(tmp_path)}
    assert set(letters) == {"GHOST", "ORPHAN1"}
    assert "HTTP 422" in letters["GHOST"]["reason"] and "unit_code" in letters["GHOST"]["reason"]
    orphan = letters["ORPHAN1"]
    assert "refused in this run" in orphan["reason"] and "GHOST" in orphan["reason"]
    assert orphan["api_response"] is None  # never sent, so the API never answered about it


def test_enrollment_student_list_is_replaced_not_merged(sb: SandboxProcess, tmp_path: Path) -> None:
    data = world(students=4)
    config = write_config(tmp_path, sb)
    enrollment = {**data["enrollments"][0], "student_codes": ["ALU1", "ALU2", "ALU3"]}
    first = run_target(config, [*messages_of(data, *ORDER[:-1]), record("enrollments", enrollment)], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    code = enrollment["code"]

    def students_of() -> list[str]:
        response = sb.session.get(f"{sb.base_url}/enrollments/{code}", headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]["student_codes"]

    assert students_of() == ["ALU1", "ALU2", "ALU3"]
    second = run_target(config, [record("enrollments", {**enrollment, "student_codes": ["ALU1", "ALU4"]})], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert students_of() == ["ALU1", "ALU4"]
    assert sync_calls(sb)[-1] == ("enrollments", 200)
    assert dead_letters(tmp_path) == []


def test_dlq_replay_resends_a_fixed_professor(sb: SandboxProcess, tmp_path: Path) -> None:
    good = {"code": "PROF001", "name": "João", "email": "joao@faculdade.edu.br", "cpf": "52998224725"}
    bad = {"code": "PROF002", "name": "Maria", "email": "maria@faculdade.edu.br", "cpf": "123.456.789-01"}
    config = write_config(tmp_path, sb)
    first = run_target(config, messages_of({"professors": [good, bad]}), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert set(stored(sb, "professors")) == {"PROF001"}
    [letter] = dead_letters(tmp_path)
    assert "invalid before sending" in letter["reason"] and "cpf" in letter["reason"]
    assert letter["target"] == "target-proextend"

    ponte = [console_script("ponte"), "dlq"]
    store = ["--store", f"file:{tmp_path / 'dl.jsonl'}"]
    edit = ponte_cli("dlq", "edit", str(letter["id"]), *store, "--set", 'cpf="12345678909"')
    assert edit.returncode == 0, edit.stderr
    assert dead_letters(tmp_path)[0]["record"]["cpf"] == "12345678909"

    replay = " ".join([*ponte, "replay", *store, "--all-open", "--target", "target-proextend"])
    pipe = f"{replay} | {console_script('target-proextend')} --config {config}"
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", pipe], capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert stored(sb, "professors")["PROF002"]["cpf"] == "12345678909"
    assert [letter["status"] for letter in dead_letters(tmp_path)] == ["open"]  # replayed only when told so

    mark = ponte_cli("dlq", "replay", *store, "--all-open", "--target", "target-proextend", "--mark-replayed")
    assert mark.returncode == 0 and "marked 1 dead letter(s) replayed" in mark.stderr
    assert [letter["status"] for letter in dead_letters(tmp_path)] == ["replayed"]


def test_a_wrong_api_key_fails_before_any_input_is_read(sb: SandboxProcess, tmp_path: Path) -> None:
    config = api_targets.write_config(tmp_path, instituicao="demo", api_key="pex_wrong_key", base_url=sb.base_url)
    code, stderr = api_targets.run_without_input("target-proextend", config, tmp_path)

    assert code == 3, stderr
    [line] = [line for line in stderr.splitlines() if "TARGET_PROEXTEND_API_KEY" in line]
    assert line.startswith("target-proextend: ") and "401" in line
    assert "target-proextend: target-proextend" not in stderr and "pex_wrong_key" not in stderr
    assert "received" not in stderr and "Traceback" not in stderr
    assert sync_calls(sb) == []
