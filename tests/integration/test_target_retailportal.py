"""target-retailportal against the RetailPortal sandbox, its entry point called in-process (the sandbox in a thread);
one test runs the console script in a subprocess, as users and Meltano do.

Job processing is sped up with the sandbox's time_scale (never sleeps); each test asserts what the sandbox
stored, the requests and jobs it saw, the job log, the dead letters, alerts and the exit code.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ponte.testing import SandboxProcess, api_targets, console_script
from ponte.testing.cli import ponte_cli
from ponte.testing.in_process import SandboxThread
from ponte.testing.sinks import HttpSink, SmtpSink

KEY = "rp_sandbox_key"
FAST = {"time_scale": 1000.0, "rate_limit": 0, "rate_window_seconds": 60.0, "max_concurrent_jobs": 5,
        "latency_ms": 0, "job_fail_next": 0, "items_per_second": 4.0, "job_status_links": "both",
        "job_status_route": "jobs", "job_success_state": "Succeeded", "item_error_field": "errors"}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxThread.start("retailportal", "--set", "time_scale=1000", "--set", "rate_limit=0") as sandbox:
        yield sandbox


@pytest.fixture
def rp(server: SandboxProcess) -> SandboxProcess:
    """The shared sandbox, empty, fast, unlimited, with a fresh request log."""
    server.admin("retailportal/reset")
    server.session.post(f"{server.url}/_sandbox/reset-limits", timeout=10).raise_for_status()
    server.configure(**FAST)
    server.reset_log()
    return server


# -- helpers ----------------------------------------------------------------------------------------------
def write_config(tmp_path: Path, rp: SandboxProcess, **extra: Any) -> Path:
    return api_targets.write_config(tmp_path, **{"api_key": KEY, "base_url": rp.base_url, "poll_seconds": 0.2, **extra})


def products(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"type": "RECORD", "stream": "products",
         "record": {"erpId": i, "description": f"Produto {i}", "price": 10.0 + i, **extra}}
        for i in range(1, n + 1)
    ]  # fmt: skip


def input_file(tmp_path: Path, messages: list[dict[str, Any]]) -> Path:
    return api_targets.write_messages(tmp_path / "input.jsonl", messages)


def run_target(config: Path, source: Path) -> subprocess.CompletedProcess[str]:
    return api_targets.run_api_target_in_process("target-retailportal", config, source)


def info(rp: SandboxProcess) -> dict[str, Any]:
    return rp.session.get(f"{rp.url}/_sandbox/retailportal/info", timeout=10).json()


def jobs(rp: SandboxProcess) -> list[dict[str, Any]]:
    return rp.session.get(f"{rp.url}/_sandbox/retailportal/jobs", timeout=10).json()


def batch_posts(rp: SandboxProcess) -> list[dict[str, Any]]:
    return [e for e in rp.request_log() if e["method"] == "POST" and e["path"].endswith("/product/batch")]


def stored_ids(rp: SandboxProcess) -> list[int]:
    return [p["erpId"] for p in rp.session.get(f"{rp.url}/_sandbox/retailportal/products", timeout=10).json()]


def state_lines(result: subprocess.CompletedProcess[str]) -> list[Any]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def most_at_once(intervals: list[tuple[str, str]]) -> int:
    """The largest number of [start, end) intervals that overlap (ISO 8601 Z stamps compare as text)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- tests ------------------------------------------------------------------------------------------------
def test_5000_products_in_3_parallel_jobs_and_a_rerun_only_updates(rp: SandboxProcess, tmp_path: Path) -> None:
    rp.configure(time_scale=200.0)  # a job of 417 items takes ~0.5 s: the three submissions surely overlap
    state = {"type": "STATE", "value": {"bookmarks": {"products": {"replication_key_value": "2026-07-01"}}}}
    source = input_file(tmp_path, [*products(5000), state])
    config = write_config(tmp_path, rp, parallel_jobs=3, batch_size=500)
    result = run_target(config, source)

    assert result.returncode == 0, result.stderr[-3000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [state["value"]]  # the bare value
    assert info(rp)["products"] == 5000
    first = jobs(rp)
    # 10 batches of 500 would leave the last round with one job alone: 12 balanced batches of <= 417 instead
    assert len(first) == 12 and max(j["totalItems"] for j in first) == 417
    assert sum(j["totalItems"] for j in first) == 5000
    assert {j["state"] for j in first} == {"Succeeded"} and sum(j["createdCount"] for j in first) == 5000
    assert most_at_once([(j["startedAt"], j["finishedAt"]) for j in first]) == 3

    events = api_targets.read_jsonl(tmp_path / "jobs.jsonl")
    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_job[event["job_id"]].append(event)
    assert set(by_job) == {j["jobId"] for j in first}
    for job_id, entries in by_job.items():
        assert [e["event"] for e in entries] == ["submitted", "finished"], job_id
        assert entries[1]["state"] == "Succeeded" and entries[1]["failed"] == 0
        assert entries[0]["items"] == entries[1]["succeeded"]
    assert sum(e["items"] for e in events if e["event"] == "submitted") == 5000

    again = run_target(config, source)
    assert again.returncode == 0, again.stderr[-3000:]
    assert info(rp)["products"] == 5000  # upserted by erpId: nothing doubled
    second = [j for j in jobs(rp) if j["jobId"] not in by_job]
    assert len(second) == 12
    assert sum(j["updatedCount"] for j in second) == 5000 and sum(j["createdCount"] for j in second) == 0
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []


def test_a_timed_out_post_is_sent_again_without_duplicates(rp: SandboxProcess, tmp_path: Path) -> None:
    config = write_config(tmp_path, rp, timeout_seconds=1, backoff_base_seconds=4)
    stderr_path, stdout_path = tmp_path / "stderr.log", tmp_path / "stdout.log"
    with stderr_path.open("w") as stderr, stdout_path.open("w") as stdout:
        process = subprocess.Popen([console_script("target-retailportal"), "--config", str(config)],
                                   stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, text=True)  # fmt: skip
        try:
            # the credentials check comes before any input is read; only then is the API made slow
            checked = lambda: any(e["path"].endswith("/get-latest-integration") for e in rp.request_log())  # noqa: E731
            wait_until(checked, 15, "the target's credentials check")
            rp.configure(latency_ms=3000)  # the first POST answers after the target has given up on it
            assert process.stdin is not None
            process.stdin.write(input_file(tmp_path, products(20)).read_text())
            process.stdin.close()
            wait_until(lambda: "retrying" in stderr_path.read_text(), 15, "the target to give up on its first POST")
            rp.configure(latency_ms=0)  # the retry (2-4 s later, backoff) is answered at once
            process.wait(timeout=30)
            out = stdout_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    log = stderr_path.read_text()
    assert process.returncode == 0, log[-3000:]
    assert "Timeout" in log or "timed out" in log
    posts = batch_posts(rp)
    assert len(posts) == 2 and [p["status"] for p in posts] == [202, 202]  # both arrived; the first too late
    assert info(rp)["products"] == 20
    assert sorted(p["erpId"] for p in rp.session.get(f"{rp.url}/_sandbox/retailportal/products").json()) == list(
        range(1, 21)
    )
    assert all(j["state"] == "Succeeded" for j in jobs(rp)) and len(jobs(rp)) == 2
    assert len([e for e in api_targets.read_jsonl(tmp_path / "jobs.jsonl") if e["event"] == "submitted"]) == 1
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == [] and out == ""


def test_429s_are_waited_out(rp: SandboxProcess, tmp_path: Path) -> None:
    rp.configure(rate_limit=3, rate_window_seconds=1.0)
    config = write_config(tmp_path, rp, parallel_jobs=3, batch_size=250)
    result = run_target(config, input_file(tmp_path, products(1000)))

    assert result.returncode == 0, result.stderr[-3000:]
    assert info(rp)["products"] == 1000
    stats = rp.stats()
    assert stats["rate_limited"] > 0 and stats["by_status"].get("429", 0) == stats["rate_limited"]
    assert "rate limited" in result.stderr and "status=429" in result.stderr
    assert {j["state"] for j in jobs(rp)} == {"Succeeded"}
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []


def test_a_job_that_fails_twice_is_dead_lettered_and_alerted(rp: SandboxProcess, tmp_path: Path) -> None:
    rp.configure(job_fail_next=2)  # the job and its one resubmission both fail as a whole
    with SmtpSink() as smtp, HttpSink() as hook:
        config = write_config(tmp_path, rp, alert_smtp_host="127.0.0.1", alert_smtp_port=smtp.port,
                              alert_smtp_to=["ops@example.com"], alert_smtp_from="ponte@example.com",
                              alert_webhook_url=hook.url)  # fmt: skip
        result = run_target(config, input_file(tmp_path, products(10)))
        assert result.returncode == 0, result.stderr[-3000:]
        [email] = smtp.wait_for(1)
        [post] = hook.wait_for(1)
        assert len(smtp.messages) == 1 and len(hook.requests) == 1

    assert email.rcpt_to == ["ops@example.com"] and "target-retailportal" in email.subject
    assert "10" in email.body
    assert post.json is not None and "target-retailportal" in json.dumps(post.json)
    for text in (email.subject, email.body, email.message.as_string(), post.body.decode(), json.dumps(post.headers)):
        assert KEY not in text
    assert KEY not in result.stderr

    assert info(rp)["products"] == 0
    assert [j["state"] for j in jobs(rp)] == ["Failed", "Failed"]
    letters = api_targets.read_jsonl(tmp_path / "dl.jsonl")
    assert sorted(letter["record"]["erpId"] for letter in letters) == list(range(1, 11))
    assert all("ended Failed" in letter["reason"] and letter["api_response"]["state"] == "Failed" for letter in letters)
    finished = [e for e in api_targets.read_jsonl(tmp_path / "jobs.jsonl") if e["event"] == "finished"]
    assert [e["state"] for e in finished] == ["Failed", "Failed"]


# -- a server whose open choices differ from the declaration's guesses ---------------------------------------------
STATE = {"type": "STATE", "value": {"bookmarks": {"products": {"replication_key_value": "2026-07-01"}}}}


@pytest.mark.parametrize("links", ["location", "body"])
def test_the_status_url_comes_from_the_location_header_then_status_url(
    rp: SandboxProcess, tmp_path: Path, links: str
) -> None:
    rp.configure(job_status_links=links, job_status_route="product-batch")  # the declared /jobs/{job_id} is 404
    result = run_target(write_config(tmp_path, rp, batch_size=10), input_file(tmp_path, [*products(30), STATE]))

    assert result.returncode == 0, result.stderr[-3000:]
    assert stored_ids(rp) == list(range(1, 31)) and state_lines(result) == [STATE["value"]]
    polls = [e["path"] for e in rp.request_log() if e["method"] == "GET" and "hangfire-job" in e["path"]]
    job_ids = {j["jobId"] for j in jobs(rp)}
    assert polls and {p.rsplit("/", 1)[1] for p in polls} == job_ids
    assert all(p.startswith("/erp-data/product/batch/") for p in polls)
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []


def test_an_undeclared_final_state_is_taken_by_its_counts_with_one_warning(rp: SandboxProcess, tmp_path: Path) -> None:
    # the case: the server says Completed, the declaration expects Succeeded; before, every item of the
    # 1,192 was dead-lettered as TimedOut after max_job_wait_seconds although the server had applied them all
    rp.configure(job_success_state="Completed")
    config = write_config(tmp_path, rp, batch_size=200, parallel_jobs=3, max_job_wait_seconds=5)
    result = run_target(config, input_file(tmp_path, [*products(1192), STATE]))

    assert result.returncode == 0, result.stderr[-3000:]
    assert info(rp)["products"] == 1192 and {j["state"] for j in jobs(rp)} == {"Completed"}
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []
    assert state_lines(result) == [STATE["value"]]
    warnings = [line for line in result.stderr.splitlines() if "'Completed'" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "success_states" in warnings[0], warnings
    finished = [e for e in api_targets.read_jsonl(tmp_path / "jobs.jsonl") if e["event"] == "finished"]
    assert len(finished) == len(jobs(rp)) and {e["state"] for e in finished} == {"Completed"}
    assert sum(e["succeeded"] for e in finished) == 1192


@pytest.mark.parametrize("field", ["message", "error", "detail"])  # "errors": the dlq test
def test_per_item_messages_are_read_from_whichever_field_holds_them(
    rp: SandboxProcess, tmp_path: Path, field: str
) -> None:
    rp.configure(item_error_field=field)
    messages = products(10)
    for message in messages[2:4]:
        message["record"]["description"] = "   "  # valid for the payload schema, refused by the API
    result = run_target(write_config(tmp_path, rp), input_file(tmp_path, messages))

    assert result.returncode == 0, result.stderr[-3000:]
    assert stored_ids(rp) == [1, 2, 5, 6, 7, 8, 9, 10]
    letters = api_targets.read_jsonl(tmp_path / "dl.jsonl")
    assert sorted(letter["record"]["erpId"] for letter in letters) == [3, 4]
    for letter in letters:
        assert letter["reason"].startswith("description: description é obrigatório."), letter["reason"]
        assert "None" not in letter["reason"]


def test_dlq_list_shows_the_api_message_first_and_whole(rp: SandboxProcess, tmp_path: Path) -> None:
    messages = products(3)
    messages[1]["record"]["description"] = " "
    result = run_target(write_config(tmp_path, rp), input_file(tmp_path, messages))
    assert result.returncode == 0, result.stderr[-3000:]

    listed = ponte_cli("dlq", "list", "--store", f"file:{tmp_path / 'dl.jsonl'}")
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()
    reason = line[header.index("REASON") :]
    assert reason.startswith("description: description é obrigatório."), reason
    assert "erpId=2" in reason and "…" not in reason  # the context follows; nothing is cut when piped


def test_a_job_whose_outcome_is_unknown_is_no_dead_letter_and_fails_the_run(rp: SandboxProcess, tmp_path: Path) -> None:
    rp.configure(time_scale=0.0)  # the jobs are accepted but never move
    config = write_config(tmp_path, rp, batch_size=10, parallel_jobs=2, max_job_wait_seconds=1)
    source = input_file(tmp_path, [*products(20), STATE])
    result = run_target(config, source)

    assert result.returncode == 7, result.stderr[-3000:]
    assert result.stdout == ""  # no STATE past items whose fate is unknown: the next run sends them again
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []
    unknown = [line for line in result.stderr.splitlines() if "outcome unknown for its" in line]
    assert len(unknown) == 2 and all("10 item(s)" in line and "run again" in line for line in unknown), unknown
    finished = [e for e in api_targets.read_jsonl(tmp_path / "jobs.jsonl") if e["event"] == "finished"]
    assert [e["state"] for e in finished] == ["unknown", "unknown"]
    assert "Traceback" not in result.stderr

    rp.configure(time_scale=1000.0)
    again = run_target(config, source)
    assert again.returncode == 0, again.stderr[-3000:]
    assert info(rp)["products"] == 20 and state_lines(again) == [
        STATE["value"]
    ]  # the re-sent batches upserted by erpId


def test_a_wrong_api_key_fails_before_any_input_is_read(rp: SandboxProcess, tmp_path: Path) -> None:
    code, stderr = api_targets.run_without_input("target-retailportal", write_config(tmp_path, rp, api_key="wrong"),
                                                 tmp_path)  # fmt: skip
    assert code == 3, stderr
    [line] = [line for line in stderr.splitlines() if "TARGET_RETAILPORTAL_API_KEY" in line]
    assert line.startswith("target-retailportal: ") and "401" in line
    assert "target-retailportal: target-retailportal" not in stderr and "wrong" not in stderr
    assert "received" not in stderr and "Traceback" not in stderr  # no summary table of zeros
    assert batch_posts(rp) == []


def test_a_fatal_input_error_is_one_line_without_a_table_of_zeros(rp: SandboxProcess, tmp_path: Path) -> None:
    source = input_file(tmp_path, products(3))
    source.write_text(source.read_text() + "INFO tap-bling: a log line in the data\n")
    result = run_target(write_config(tmp_path, rp), source)

    assert result.returncode == 5, result.stderr
    assert result.stderr.count("input line 4 is not JSON") == 1
    assert "target-retailportal: input line 4 is not JSON" in result.stderr
    assert "target-retailportal: target-retailportal" not in result.stderr
    assert "received" not in result.stderr and "dead-lettered" not in result.stderr
    assert batch_posts(rp) == [] and result.stdout == ""
