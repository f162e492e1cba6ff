"""`meltano run tap-totvs totvs-to-proextend target-proextend` and `meltano run tap-bling bling-to-retailportal
target-retailportal`: tap, mapping and ingest-API target composed by Meltano, against the sandboxes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from ponte.testing import SandboxProcess, bling_tokens
from ponte.testing.api_targets import read_jsonl
from ponte.testing.meltano_run import meltano_run

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ACCOUNTS = ("loja-matriz", "loja-filial")


def test_totvs_rm_lands_in_proextend_through_the_mapping(meltano_installed: None, tmp_path: Path) -> None:
    with (
        SandboxProcess.start("totvs", "--students", "80") as totvs,
        SandboxProcess.start("proextend", "--set", "rate_limit=1000") as proextend,
    ):
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_RUN_STATE_ID_SUFFIX": tmp_path.name,
            "TAP_TOTVS_BASE_URL": totvs.url,
            "TAP_TOTVS_STATE_DIR": str(tmp_path),
            "TARGET_PROEXTEND_BASE_URL": proextend.base_url,
            "TARGET_PROEXTEND_REQUESTS_PER_MINUTE": "1000",
            "TARGET_PROEXTEND_DEAD_LETTER_PATH": str(tmp_path / "dead_letters.jsonl"),
            "TARGET_PROEXTEND_JOB_LOG_PATH": str(tmp_path / "jobs.jsonl"),
        }
        run = meltano_run(PROJECT, ["tap-totvs", "totvs-to-proextend", "target-proextend"], env)
        assert run.returncode == 0, run.stderr[-3000:]
        stored = {
            name: {r["code"]: r for r in requests.get(f"{proextend.url}/_sandbox/proextend/{name}", timeout=10).json()["records"]}
            for name in ("units", "areas", "courses", "subjects", "professors", "students", "enrollments")
        }  # fmt: skip
        calls = [r["path"].rsplit("/", 2)[-2] for r in proextend.request_log() if r["path"].endswith("/sync")]

    assert all(stored[name] for name in stored), {name: len(v) for name, v in stored.items()}
    # dependency order, whatever order the tap emitted its streams in
    order = ["units", "areas", "courses", "subjects", "professors", "students", "enrollments"]
    assert [c for i, c in enumerate(calls) if i == 0 or calls[i - 1] != c] == order
    for enrollment in stored["enrollments"].values():
        assert enrollment["subject_code"] in stored["subjects"]
        assert enrollment["professor_code"] in stored["professors"]
        assert set(enrollment["student_codes"]) <= set(stored["students"]), enrollment["code"]
    assert all(len(p["cpf"]) == 11 for p in stored["professors"].values())
    letters = read_jsonl(tmp_path / "dead_letters.jsonl")
    # the sandbox's RM has students and classes of courses outside the academic the tap reads: the API refuses
    # them; nothing else is lost, and every refusal says why
    assert {letter["entity"] for letter in letters} <= {"students", "enrollments"}
    for letter in letters:
        if letter["entity"] == "students":
            assert letter["record"]["course_code"] not in stored["courses"]
            assert "curso especificado não existe" in letter["reason"]
        else:  # a class of a refused student, or of a subject outside the academic read: the API says which
            assert "refused in this run" in letter["reason"] or "não existe" in letter["reason"], letter["reason"]
    assert "platform total" in run.stderr  # the summary shows sync-status next to our counts


def test_bling_products_land_in_retailportal_and_a_rerun_duplicates_nothing(
    meltano_installed: None, tmp_path: Path
) -> None:
    with (
        SandboxProcess.start("bling", "--products", "30", "--set", "rate_limit=1000") as bling,
        SandboxProcess.start("retailportal", "--set", "time_scale=500") as portal,
    ):
        bling_tokens.seed_tokens(bling, tmp_path / "tokens.json", ACCOUNTS)
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_RUN_STATE_ID_SUFFIX": tmp_path.name,
            "TAP_BLING_BASE_URL": bling.base_url,
            "TAP_BLING_AUTHORIZE_URL": f"{bling.base_url}/oauth/authorize",
            "TAP_BLING_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
            "TAP_BLING_STATE_DIR": str(tmp_path / "state"),
            "TAP_BLING_REQUESTS_PER_SECOND": "1000",
            "TARGET_RETAILPORTAL_BASE_URL": portal.base_url,
            "TARGET_RETAILPORTAL_POLL_SECONDS": "0.2",
            "TARGET_RETAILPORTAL_DEAD_LETTER_PATH": str(tmp_path / "dead_letters.jsonl"),
            "TARGET_RETAILPORTAL_JOB_LOG_PATH": str(tmp_path / "jobs.jsonl"),
        }
        blocks = ["tap-bling", "bling-to-retailportal", "target-retailportal"]
        first = meltano_run(PROJECT, blocks, env)
        assert first.returncode == 0, first.stderr[-3000:]
        products = requests.get(f"{portal.url}/_sandbox/retailportal/products", timeout=10).json()
        env["MELTANO_RUN_STATE_ID_SUFFIX"] = f"{tmp_path.name}-again"  # a full re-send, not an incremental one
        second = meltano_run(PROJECT, blocks, env)
        assert second.returncode == 0, second.stderr[-3000:]
        again = requests.get(f"{portal.url}/_sandbox/retailportal/products", timeout=10).json()
        jobs = requests.get(f"{portal.url}/_sandbox/retailportal/jobs", timeout=10).json()

    assert products, "no product landed"
    assert all(isinstance(p["erpId"], int) and p["description"] for p in products)
    assert sorted(p["erpId"] for p in again) == sorted(p["erpId"] for p in products), "a re-run must not duplicate"
    jobs = jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
    assert all(j["state"] == "Succeeded" for j in jobs)
    assert sum(j["createdCount"] for j in jobs) == len(products)  # the second run only updated
    logged = [json.loads(line) for line in (tmp_path / "jobs.jsonl").read_text().splitlines()]
    assert {e["job_id"] for e in logged if e["event"] == "finished"} == {j["jobId"] for j in jobs}
    assert not read_jsonl(tmp_path / "dead_letters.jsonl")
