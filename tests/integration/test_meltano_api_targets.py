"""The shipped API pipelines (jobs totvs-rm-to-proextend and bling-products-to-retailportal): tap, mapping and
ingest-API target composed by Meltano, against the sandboxes; each extractor reads only what its mapping uses."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from ponte.testing import SandboxProcess, bling_tokens
from ponte.testing.api_targets import read_jsonl
from ponte.testing.meltano_run import meltano_cli, meltano_run

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
            "MELTANO_RUN_STATE_ID_SUFFIX": uuid.uuid4().hex,  # tmp_path.name repeats across sessions
            "TAP_TOTVS_BASE_URL": totvs.url,  # the base plugin's variables reach the pipeline's tap-totvs--proextend
            "TAP_TOTVS_STATE_DIR": str(tmp_path),
            "TARGET_PROEXTEND_BASE_URL": proextend.base_url,
            "TARGET_PROEXTEND_REQUESTS_PER_MINUTE": "1000",
            "TARGET_PROEXTEND_DEAD_LETTER_PATH": str(tmp_path / "dead_letters.jsonl"),
            "TARGET_PROEXTEND_JOB_LOG_PATH": str(tmp_path / "jobs.jsonl"),
        }
        blocks = ["tap-totvs--proextend", "totvs-to-proextend", "target-proextend"]  # the job's task
        run = meltano_run(PROJECT, blocks, env)
        assert run.returncode == 0, run.stderr[-3000:]
        read = {entry["path"].split("?")[0] for entry in totvs.request_log()}
        stored = platform_records(proextend)
        calls = [r["path"].rsplit("/", 2)[-2] for r in proextend.request_log() if r["path"].endswith("/sync")]
        every_student = {"pageSize": 1}
        students_in_rm = requests.get(
            f"{totvs.url}/api/educational/v1/StudentContexts",
            params=every_student,
            auth=("mestre", "totvs"),
            timeout=10,
        ).json()["total"]
        state = stored_state(env, "tap-totvs--proextend-to-target-proextend")
        # RM's APIs offer no change filter, so every stream is full-table: the second run re-reads and re-sends
        # the same records, and the platform ends exactly as it was
        again = meltano_run(PROJECT, blocks, env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert platform_records(proextend) == stored

    # Meltano stores the bare state value (bookmarks at the top level), not a whole STATE message
    assert "type" not in state and "bookmarks" in state, state
    assert not [path for path in read if "/CurriculumGrids" in path], "grades_curriculares is not mapped: not read"

    assert all(stored[name] for name in stored), {name: len(v) for name, v in stored.items()}
    # dependency order, whatever order the tap emitted its streams in
    order = ["units", "areas", "courses", "subjects", "professors", "students", "enrollments"]
    assert [c for i, c in enumerate(calls) if i == 0 or calls[i - 1] != c] == order
    for enrollment in stored["enrollments"].values():
        assert enrollment["subject_code"] in stored["subjects"]
        assert enrollment["professor_code"] in stored["professors"]
        assert set(enrollment["student_codes"]) <= set(stored["students"]), enrollment["code"]
    assert all(len(p["cpf"]) == 11 for p in stored["professors"].values())
    # the tap reads every academic of the sandbox's RM, so every student's course exists: nothing is refused
    assert not read_jsonl(tmp_path / "dead_letters.jsonl")
    assert len(stored["students"]) == students_in_rm
    assert "platform total" in run.stderr  # the summary shows sync-status next to our counts


def test_bling_products_land_in_retailportal_and_the_second_run_is_incremental(
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
            "MELTANO_RUN_STATE_ID_SUFFIX": uuid.uuid4().hex,  # tmp_path.name repeats across sessions
            "TAP_BLING_ACCOUNTS": json.dumps([{"name": name} for name in ACCOUNTS]),  # dev declares one
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
        blocks = ["tap-bling--retailportal", "bling-to-retailportal", "target-retailportal"]  # the job's task
        first = meltano_run(PROJECT, blocks, env)
        assert first.returncode == 0, first.stderr[-3000:]
        products = requests.get(f"{portal.url}/_sandbox/retailportal/products", timeout=10).json()
        read = {entry["path"] for entry in bling.request_log()}
        state = stored_state(env, "tap-bling--retailportal-to-target-retailportal")
        bling.reset_log()
        second = meltano_run(PROJECT, blocks, env)  # same state ID: Meltano hands the bookmarks back
        assert second.returncode == 0, second.stderr[-3000:]
        asked = [e for e in bling.request_log() if e["path"].endswith("/produtos")]
        again = requests.get(f"{portal.url}/_sandbox/retailportal/products", timeout=10).json()
        jobs = requests.get(f"{portal.url}/_sandbox/retailportal/jobs", timeout=10).json()

    # Meltano stores the bare state value: bookmarks at the top level, not a whole STATE message
    assert "type" not in state and "partitions" in state["bookmarks"]["produtos"], state
    # only produtos (lists and details), the stream the mapping reads, and the token endpoint: no stock, orders,
    # contacts
    assert {path.rsplit("/Api/v3/", 1)[-1].split("/")[0] for path in read} <= {"produtos", "oauth"}, read
    # the second run asks each account's products only for what changed since the first run's bookmark
    assert {e["company"] for e in asked} == set(ACCOUNTS) and all("dataAlteracaoInicial" in e["query"] for e in asked)
    assert products, "no product landed"
    assert all(isinstance(p["erpId"], int) and p["description"] for p in products)
    assert sorted(p["erpId"] for p in again) == sorted(p["erpId"] for p in products), "a re-run must not duplicate"
    jobs = jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
    assert all(j["state"] == "Succeeded" for j in jobs)
    assert sum(j["createdCount"] for j in jobs) == len(products)  # nothing changed: the second run created nothing
    logged = [json.loads(line) for line in (tmp_path / "jobs.jsonl").read_text().splitlines()]
    assert {e["job_id"] for e in logged if e["event"] == "finished"} == {j["jobId"] for j in jobs}
    assert not read_jsonl(tmp_path / "dead_letters.jsonl")


def platform_records(proextend: SandboxProcess) -> dict[str, dict[str, Any]]:
    """What the ProExtend sandbox holds, per entity and code (less the platform's own `updated_at`)."""
    names = ("units", "areas", "courses", "subjects", "professors", "students", "enrollments")
    url = f"{proextend.url}/_sandbox/proextend"
    return {
        name: {r["code"]: {k: v for k, v in r.items() if k != "updated_at"} for r in requests.get(f"{url}/{name}", timeout=10).json()["records"]}
        for name in names
    }  # fmt: skip


def stored_state(env: dict[str, str], pipeline: str) -> dict[str, Any]:
    """What `meltano state get` shows for this test's state ID: the value the next run starts from."""
    state_id = f"{env['MELTANO_ENVIRONMENT']}:{pipeline}:{env['MELTANO_RUN_STATE_ID_SUFFIX']}"
    shown = meltano_cli(PROJECT, ["state", "get", state_id], env)
    assert shown.returncode == 0, shown.stderr[-2000:]
    return json.loads(shown.stdout)["singer_state"]
