"""The RetailPortal sandbox over real sockets (a child process): what a client of the real ingest API would see.

Source of truth: /work/shared/seeds/retailportal-best-practices.md. Job time is driven with the admin endpoint
`advance` (time_scale 0) or a huge time_scale, never with sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ponte.testing import SandboxProcess
from ponte.testing.in_process import SandboxThread

KEY = {"X-API-Key": "rp_sandbox_key"}
GUESSES = {"job_status_links": "both", "job_status_route": "jobs", "job_success_state": "Succeeded",
           "item_error_field": "errors"}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    """One process for the module; each test starts from empty data (time frozen, no rate limit)."""
    with SandboxThread.start("retailportal", "--set", "time_scale=0", "--rate-limit", "0") as sandbox:
        yield sandbox


@pytest.fixture
def rp(server: SandboxProcess) -> SandboxProcess:
    server.admin("retailportal/reset")
    server.session.post(f"{server.url}/_sandbox/reset-limits", timeout=10).raise_for_status()
    server.configure(time_scale=0.0, rate_limit=0, max_concurrent_jobs=5, items_per_second=4.0, **GUESSES)
    return server


def products(n: int, start: int = 1, **extra: Any) -> list[dict[str, Any]]:
    return [{"erpId": i, "description": f"Produto {i}", "price": 10.0 + i, **extra} for i in range(start, start + n)]


def post_batch(sb: SandboxProcess, items: Any, headers: dict[str, str] = KEY) -> requests.Response:
    return sb.session.post(f"{sb.base_url}/product/batch", json=items, headers=headers, timeout=10)


def job(sb: SandboxProcess, job_id: str) -> dict[str, Any]:
    response = sb.session.get(f"{sb.base_url}/jobs/{job_id}", headers=KEY, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def advance(sb: SandboxProcess, seconds: float) -> dict[str, Any]:
    return sb.admin("retailportal/advance", {"seconds": seconds})


def stored(sb: SandboxProcess) -> list[dict[str, Any]]:
    response = sb.session.get(f"{sb.url}/_sandbox/retailportal/products", timeout=10)
    response.raise_for_status()
    return response.json()


# --- authentication -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer rp_sandbox_key"}])
def test_missing_or_wrong_api_key_is_401(rp: SandboxProcess, headers: dict[str, str]) -> None:
    for response in (
        post_batch(rp, products(1), headers=headers),
        rp.session.get(f"{rp.base_url}/product/get-latest-integration", headers=headers, timeout=10),
    ):
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False and body["status"] == 401 and "X-API-Key" in body["message"]
    assert stored(rp) == []
    assert all(entry["api_key"] in (None, "wro***", "***") for entry in rp.request_log())


# --- batches and jobs -----------------------------------------------------------------------------------------
def test_batch_is_accepted_with_202_and_processed_at_items_per_second(rp: SandboxProcess) -> None:
    response = post_batch(rp, products(10))
    assert response.status_code == 202
    body = response.json()
    job_id = body["jobId"]
    assert job_id.startswith("hangfire-job-") and body["totalItems"] == 10
    assert response.headers["Location"] == f"/erp-data/jobs/{job_id}"
    first = job(rp, job_id)
    assert first["state"] == "Processing" and first["processedItems"] == 0
    advance(rp, 1.0)  # 4 items per second
    halfway = job(rp, job_id)
    assert (halfway["state"], halfway["processedItems"], halfway["successCount"]) == ("Processing", 4, 4)
    advance(rp, 10)
    done = job(rp, job_id)
    assert done["state"] == "Succeeded"
    assert (done["totalItems"], done["successCount"], done["failureCount"]) == (10, 10, 0)
    assert (done["createdCount"], done["updatedCount"], done["errors"]) == (10, 0, [])
    assert done["duration"] == "00:00:02.500" and done["finishedAt"].endswith("Z")
    rows = stored(rp)
    assert [r["erpId"] for r in rows] == list(range(1, 11)) and rows[0]["description"] == "Produto 1"


def test_time_scale_runs_jobs_without_waiting(rp: SandboxProcess) -> None:
    rp.configure(time_scale=1_000_000.0)
    job_id = post_batch(rp, products(1000)).json()["jobId"]
    assert job(rp, job_id)["state"] == "Succeeded"
    assert len(stored(rp)) == 1000


def test_per_item_failures_are_reported_in_the_job_result(rp: SandboxProcess) -> None:
    items = [
        {"erpId": 1, "description": "Dipirona", "price": 5.5},
        {"erpId": 2, "price": 3.0},  # no description
        {"erpId": 3, "description": "Ibuprofeno", "price": -1},  # negative price
        {"erpId": "4", "description": "Texto"},  # erpId not an integer
        {"erpId": 1, "description": "Dipirona 600mg"},  # duplicated in the batch
        {"erpId": 6, "description": "Data", "updatedAt": "2024-12-06 10:30"},  # not ISO 8601 with Z
        "not an object",
    ]
    job_id = post_batch(rp, items).json()["jobId"]
    advance(rp, 60)
    result = job(rp, job_id)
    assert result["state"] == "Succeeded"
    assert (result["totalItems"], result["successCount"], result["failureCount"]) == (7, 1, 6)
    fields = {e["index"]: [f["field"] for f in e["errors"]] for e in result["errors"]}
    assert fields == {1: ["description"], 2: ["price"], 3: ["erpId"], 4: ["erpId"], 5: ["updatedAt"], 6: [""]}
    assert [e["erpId"] for e in result["errors"]] == [2, 3, "4", 1, 6, None]
    assert [(r["erpId"], r["description"]) for r in stored(rp)] == [(1, "Dipirona")]


def test_resending_the_same_batch_updates_by_erp_id_without_duplicates(rp: SandboxProcess) -> None:
    items = products(5)
    first = post_batch(rp, items).json()["jobId"]
    advance(rp, 5)
    second = post_batch(rp, items).json()["jobId"]
    advance(rp, 5)
    assert first != second
    one, two = job(rp, first), job(rp, second)
    assert (one["createdCount"], one["updatedCount"]) == (5, 0)
    assert (two["createdCount"], two["updatedCount"], two["successCount"]) == (0, 5, 5)
    rows = stored(rp)
    assert len(rows) == 5 and {r["version"] for r in rows} == {2} and {r["lastJobId"] for r in rows} == {second}
    changed = [{**items[0], "price": 99.9}]
    post_batch(rp, changed)
    advance(rp, 1)
    response = rp.session.get(f"{rp.url}/_sandbox/retailportal/products", params={"erpId": 1}, timeout=10)
    assert response.json()["price"] == 99.9 and len(stored(rp)) == 5


@pytest.mark.parametrize("size", [1001, 5000])
def test_more_than_1000_items_are_refused(rp: SandboxProcess, size: int) -> None:
    response = post_batch(rp, products(size))
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and "1000" in body["message"]
    jobs = rp.session.get(f"{rp.url}/_sandbox/retailportal/jobs", timeout=10).json()
    assert jobs == []


def test_exactly_1000_items_and_bad_bodies(rp: SandboxProcess) -> None:
    assert post_batch(rp, products(1000)).status_code == 202
    assert post_batch(rp, []).status_code == 400
    assert post_batch(rp, {"erpId": 1}).status_code == 400
    raw = rp.session.post(f"{rp.base_url}/product/batch", data=b"[{", headers=KEY, timeout=10)
    assert raw.status_code == 400 and raw.json()["success"] is False


def test_concurrent_job_limit_queues_later_jobs(rp: SandboxProcess) -> None:
    rp.configure(max_concurrent_jobs=1)
    first = post_batch(rp, products(4)).json()["jobId"]
    second = post_batch(rp, products(4, start=100)).json()["jobId"]
    assert job(rp, second)["state"] == "Enqueued"
    advance(rp, 1.5)
    assert job(rp, first)["state"] == "Succeeded"
    assert job(rp, second)["processedItems"] == 2
    advance(rp, 1)
    assert job(rp, second)["state"] == "Succeeded"


def test_a_crashed_job_fails_as_a_whole(rp: SandboxProcess) -> None:
    rp.configure(job_fail_next=1)
    job_id = post_batch(rp, products(3)).json()["jobId"]
    result = job(rp, job_id)
    assert (result["state"], result["successCount"], result["failureCount"]) == ("Failed", 0, 3)
    assert stored(rp) == []


@pytest.mark.parametrize("field", ["message", "error", "detail"])
def test_switches_take_the_other_reasonable_choices(rp: SandboxProcess, field: str) -> None:
    rp.configure(job_status_links="location", job_status_route="product-batch", job_success_state="Completed",
                 item_error_field=field)  # fmt: skip
    accepted = post_batch(rp, [{"erpId": 1, "description": "ok"}, {"erpId": 2, "description": " ", "price": -1}])
    assert accepted.status_code == 202 and "statusUrl" not in accepted.json()
    job_id = accepted.json()["jobId"]
    assert accepted.headers["Location"] == f"/erp-data/product/batch/{job_id}"
    advance(rp, 1)
    assert rp.session.get(f"{rp.base_url}/jobs/{job_id}", headers=KEY, timeout=10).status_code == 404
    result = rp.session.get(f"{rp.url}{accepted.headers['Location']}", headers=KEY, timeout=10).json()
    assert (result["state"], result["successCount"], result["failureCount"]) == ("Completed", 1, 1)
    assert result["errors"] == [
        {"index": 1, "erpId": 2, field: "description: description é obrigatório. price: price não pode ser negativo."}
    ]
    [summary] = rp.session.get(f"{rp.base_url}/integration-history", headers=KEY, timeout=10).json()
    assert summary["state"] == "Completed" and summary["errors"] == result["errors"]
    rp.configure(job_status_links="body")
    accepted = post_batch(rp, products(1))
    assert "Location" not in accepted.headers
    assert accepted.json()["statusUrl"] == f"/erp-data/product/batch/{accepted.json()['jobId']}"


# --- rate limit -----------------------------------------------------------------------------------------------
def test_polls_count_against_the_per_key_rate_limit() -> None:
    with SandboxProcess.start("retailportal", "--set", "time_scale=0", "--set", "rate_limit=3") as sb:
        job_id = post_batch(sb, products(2)).json()["jobId"]
        assert sb.session.get(f"{sb.base_url}/jobs/{job_id}", headers=KEY, timeout=10).status_code == 200
        assert sb.session.get(f"{sb.base_url}/jobs/{job_id}", headers=KEY, timeout=10).status_code == 200
        refused = sb.session.get(f"{sb.base_url}/jobs/{job_id}", headers=KEY, timeout=10)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["success"] is False and refused.json()["status"] == 429
        assert post_batch(sb, products(1)).status_code == 429
        assert post_batch(sb, products(1), headers={"X-API-Key": "nope"}).status_code == 401  # auth first
        assert sb.stats()["rate_limited"] == 2
        sb.session.post(f"{sb.url}/_sandbox/reset-limits", timeout=10).raise_for_status()
        assert sb.session.get(f"{sb.base_url}/jobs/{job_id}", headers=KEY, timeout=10).status_code == 200


def test_default_rate_limit_is_100_per_minute(rp: SandboxProcess) -> None:
    config = rp.session.get(f"{rp.url}/_sandbox/config", timeout=10).json()
    rp.configure(rate_limit=100)
    statuses = [
        rp.session.get(f"{rp.base_url}/product/get-latest-integration", headers=KEY, timeout=10).status_code
        for _ in range(101)
    ]
    assert statuses.count(200) == 100 and statuses[-1] == 429
    assert config["rate_window_seconds"] == 60.0 and config["items_per_second"] == 4.0


# --- latest integration and history ---------------------------------------------------------------------------
def test_latest_integration_and_history(rp: SandboxProcess) -> None:
    latest = rp.session.get(f"{rp.base_url}/product/get-latest-integration", headers=KEY, timeout=10)
    assert latest.status_code == 200 and latest.json()["lastDateTime"] is None
    ok = post_batch(rp, products(3)).json()["jobId"]
    advance(rp, 1)
    partial = post_batch(rp, [{"erpId": 9, "description": "x"}, {"erpId": 10}]).json()["jobId"]
    advance(rp, 1)
    single_bad = rp.session.post(f"{rp.base_url}/product", json={"erpId": 11, "price": -2}, headers=KEY, timeout=10)
    assert single_bad.status_code == 400 and {e["field"] for e in single_bad.json()["errors"]} == {
        "description",
        "price",
    }
    single_ok = rp.session.post(
        f"{rp.base_url}/product", json={"erpId": 12, "description": "y"}, headers=KEY, timeout=10
    )
    assert single_ok.status_code == 201 and single_ok.json()["erpId"] == 12

    latest = rp.session.get(f"{rp.base_url}/product/get-latest-integration", headers=KEY, timeout=10).json()
    assert latest["lastDateTime"] == job(rp, partial)["finishedAt"] and latest["jobId"] == partial
    history = rp.session.get(
        f"{rp.base_url}/integration-history/ErpProduct", params={"horas": 24}, headers=KEY, timeout=10
    ).json()
    assert [(h["jobId"], h["success"]) for h in history] == [(None, False), (partial, False), (ok, True)]
    assert (history[1]["totalItems"], history[1]["successCount"], history[1]["failureCount"]) == (2, 1, 1)
    assert history[0]["operation"] == "POST /product" and history[0]["erpId"] == 11
    everything = rp.session.get(f"{rp.base_url}/integration-history", headers=KEY, timeout=10).json()
    assert len(everything) == 3
    other = rp.session.get(f"{rp.base_url}/integration-history/ErpCustomer", headers=KEY, timeout=10).json()
    assert other == []
    report = rp.session.get(f"{rp.base_url}/batch-job-report", headers=KEY, timeout=10).json()
    assert (report["jobs"], report["totalItems"], report["successCount"], report["failureCount"]) == (2, 5, 4, 1)


# --- shared faults --------------------------------------------------------------------------------------------
def test_shared_faults(rp: SandboxProcess) -> None:
    rp.configure(fail_next=1)
    failed = post_batch(rp, products(1))
    assert failed.status_code == 503 and failed.json() == {
        "success": False,
        "status": 503,
        "message": "Service temporarily unavailable",
    }
    rp.configure(drop_next=1)
    with pytest.raises(requests.ConnectionError):
        post_batch(rp, products(1))
    rp.configure(latency_ms=400)
    with pytest.raises(requests.Timeout):
        rp.session.post(f"{rp.base_url}/product/batch", json=products(1), headers=KEY, timeout=0.1)
    rp.configure(latency_ms=0, bad_json_next=1)
    latest = rp.session.get(f"{rp.base_url}/product/get-latest-integration", headers=KEY, timeout=10)
    with pytest.raises(ValueError):
        latest.json()


def test_custom_api_key_option() -> None:
    with SandboxProcess.start("retailportal", "--api-key", "k1", "--api-key", "k2") as sb:
        assert post_batch(sb, products(1), headers={"X-API-Key": "k2"}).status_code == 202
        assert post_batch(sb, products(1)).status_code == 401
        info = sb.session.get(f"{sb.url}/_sandbox/retailportal/info", timeout=10).json()
        assert info["api_keys"] == ["k1", "k2"] and info["base_path"] == "/erp-data"


def test_cli_help_labels_guesses() -> None:
    from click.testing import CliRunner

    from ponte.sandbox.cli import sandbox as sandbox_cli

    result = CliRunner().invoke(sandbox_cli, ["retailportal", "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip().startswith("--")}
    assert "[default: 8769]" in lines["--port"]
    assert lines["--max-concurrent-jobs"].endswith("(guess)")
    assert not lines["--items-per-second"].endswith("(guess)") and "[default: 4.0]" in lines["--items-per-second"]
    assert "[default: 100]" in lines["--rate-limit"]
