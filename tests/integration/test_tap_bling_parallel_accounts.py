"""tap-bling reads its accounts at the same time, each at its own 3 req/s, with the output of a sequential read.

In-process against a SandboxThread: the parallel run at tap-bling's default budget (3 requests/second per
account), the reference run one account after the other (PONTE_PARALLEL_ACCOUNTS=0) with the budget off.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from pathlib import Path
from typing import Any

from ponte.testing import bling_tokens
from ponte.testing.in_process import SandboxThread, run_tap_in_process
from ponte.testing.singer_process import SingerRun

ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")
# full-table parent/child with ids batches (ACTIVATE_VERSION), a plain list, an incremental window_end stream
STREAMS = {"empresa", "depositos", "estoques_saldos", "produtos_sku", "contatos"}
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")


def config_for(base_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return bling_tokens.sandbox_config(base_url, tmp_path, ACCOUNTS, **extra)


def resource_requests(sandbox: SandboxThread) -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log() if "/oauth/" not in e["path"] and e.get("company")]


def switches(log: list[dict[str, Any]], path: str) -> int:
    """How often the account changes between consecutive requests to an endpoint, in the order they came."""
    asked = [e["company"] for e in sorted(log, key=lambda e: e["timestamp"]) if path in e["path"]]
    return sum(1 for a, b in itertools.pairwise(asked) if a != b)


def by_account(run: SingerRun, stream: str) -> dict[str, list[str]]:
    """Each account's records of a stream, sorted, with the run's moments blanked (`_sdc_window_end`)."""
    found: dict[str, list[str]] = {}
    for record in run.records(stream):
        found.setdefault(record["conta"], []).append(MOMENT.sub("<moment>", json.dumps(record, sort_keys=True)))
    return {account: sorted(rows) for account, rows in found.items()}


def comparable(state: Any, run_version: int | None) -> Any:
    """The state with this run's moments and table version blanked (two runs never start at the same instant)."""
    text = MOMENT.sub("<moment>", json.dumps(state, sort_keys=True))
    return json.loads(text.replace(str(run_version), "<version>") if run_version else text)


def activate_versions(run: SingerRun) -> list[tuple[str, int]]:
    return [(m["stream"], m["version"]) for m in run.of_type("ACTIVATE_VERSION")]


def test_accounts_read_in_parallel_each_at_its_budget_with_the_records_and_state_of_a_sequential_read(
    tmp_path: Path,
) -> None:
    with SandboxThread.start("bling", "--companies", "3", "--products", "30", "--set", "rate_limit=1000") as bling:
        bling_tokens.seed_tokens(bling, tmp_path / "tokens.json", ACCOUNTS)
        bling.reset_log()
        parallel = run_tap_in_process(
            "tap-bling", config_for(bling.base_url, tmp_path), streams=STREAMS, env={"PONTE_PARALLEL_ACCOUNTS": "1"}
        )
        log = resource_requests(bling)
        bling.reset_log()
        sequential = run_tap_in_process(
            "tap-bling",
            config_for(bling.base_url, tmp_path, rate_limit_requests=1000),
            streams=STREAMS,
            env={"PONTE_PARALLEL_ACCOUNTS": "0"},
        )
        sequential_log = resource_requests(bling)
    assert parallel.returncode == 0, parallel.stderr
    assert sequential.returncode == 0, sequential.stderr

    # the accounts' requests overlap in time: each endpoint is asked by every account in turn, not account by
    # account as in the sequential read
    assert switches(log, "/estoques/saldos/") > len(ACCOUNTS) - 1
    assert switches(sequential_log, "/estoques/saldos/") == len(ACCOUNTS) - 1
    for account in ACCOUNTS:
        times = sorted(dt.datetime.fromisoformat(e["timestamp"]) for e in log if e["company"] == account)
        assert len(times) >= 5, account
        # and none goes over its own 3 requests in a second (the budget is per account, as Bling counts it)
        assert all((b - a).total_seconds() > 1.0 for a, b in zip(times, times[3:], strict=False)), account
    assert not [e for e in log if e["status"] == 429]

    # the same records per stream and account as one account after the other
    for stream in STREAMS:
        assert by_account(parallel, stream) == by_account(sequential, stream), stream
        assert set(by_account(parallel, stream)) == set(ACCOUNTS), stream
    # the same final state: a bookmark per account and stream; the full-table version activated once, after
    # every account's records of that stream
    version = next(m["version"] for m in parallel.messages if m.get("type") == "RECORD" and "version" in m)
    other = next(m["version"] for m in sequential.messages if m.get("type") == "RECORD" and "version" in m)
    assert comparable(parallel.last_state, version) == comparable(sequential.last_state, other)
    assert [s for s, _ in activate_versions(parallel)] == [s for s, _ in activate_versions(sequential)]
    assert {v for _, v in activate_versions(parallel)} == {version}
    for stream, _ in activate_versions(parallel):
        last_record = max(
            i for i, m in enumerate(parallel.messages) if m.get("stream") == stream and m["type"] == "RECORD"
        )
        activated = next(
            i for i, m in enumerate(parallel.messages) if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
        )
        assert activated > last_record, stream
    # a STATE never names an account's partition before the records it covers: each one only grows
    partitions = [
        len(s["value"].get("bookmarks", {}).get("contatos", {}).get("partitions", []))
        for s in parallel.of_type("STATE")
    ]
    assert partitions == sorted(partitions) and partitions[-1] == len(ACCOUNTS)
