"""A daily quota smaller than a stream: the stream completes over several days, every record exactly once.

The taps run as users run them (console script, state handed from run to run as Meltano would) against the
sandboxes. A "day" ends in the test by turning the day of the tap's persisted request counter back (what
midnight does to it), or, where the server counts, with the sandbox's reset of its daily quotas.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from ponte.testing import SandboxProcess, bling_tokens, select_only
from ponte.testing.in_process import SandboxThread, discover_in_process, run_tap_in_process
from ponte.testing.quota_clock import pass_midnight
from ponte.testing.singer_process import SingerRun

SIENGE = {"subdomain": "demo", "username": "demo-api", "password": "demo-secret", "backoff_base_seconds": 0.05}
BLING_ACCOUNTS = ("loja-matriz", "loja-filial")


def catalog(executable: str, config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """The catalog with only `streams` selected, discovered once for all the days of a test."""
    return select_only(discover_in_process(executable, config), streams)


def sienge_now() -> str:
    """Sandbox clock = real now in São Paulo, so rows it inserts fall on the day the tap's bookmarks name."""
    return dt.datetime.now(ZoneInfo("America/Sao_Paulo")).replace(microsecond=0).isoformat()


def customer_offsets(sandbox: SandboxProcess) -> list[int]:
    return [int(e["query"]["offset"]) for e in sandbox.request_log() if e["path"].endswith("/customers")]


def test_customers_larger_than_a_days_quota_complete_over_three_days_each_exactly_once(tmp_path: Path) -> None:
    # 2,000 customers in pages of 50 (the sandbox serves at most 50) = 40 requests; the quota allows 15 a day
    args = ("--records", "2000", "--max-limit", "50", "--limit-over-max", "clamp")
    with SandboxThread.start("sienge", *args) as sandbox:
        sandbox.configure(now=sienge_now())
        config = {**SIENGE, "base_url": sandbox.base_url, "state_dir": str(tmp_path / "state"), "daily_quota": 15}
        selected = catalog("tap-sienge", config, {"customers"})
        runs: list[SingerRun] = []
        asked: list[list[int]] = []
        state = None
        for day in range(3):
            sandbox.reset_log()
            run = run_tap_in_process("tap-sienge", config, catalog=selected, state=state)
            assert run.returncode == 0, run.stderr
            runs.append(run)
            asked.append(customer_offsets(sandbox))
            state = run.last_state
            pass_midnight(tmp_path / "state")
            if day == 0:  # seven customers registered overnight: newest first, they push every row down
                sandbox.admin("sienge/customers/insert", {"count": 7})
        sandbox.reset_log()
        after = run_tap_in_process("tap-sienge", config, catalog=selected, state=state)
        assert after.returncode == 0, after.stderr

    emitted = Counter(r["id"] for run in runs for r in run.records("customers"))
    assert sorted(emitted) == list(range(1, 2001)), "every customer of the listing that began on day one"
    assert max(emitted.values()) == 1, [i for i, n in emitted.items() if n > 1][:10]
    assert [len(a) for a in asked][:2] == [15, 15] and len(asked[2]) <= 15
    assert "daily request quota spent" in runs[0].stderr and "daily request quota spent" in runs[1].stderr
    # each day goes on where the day before stopped (a few rows early, aligned on the last row emitted)
    assert asked[0][-1] == 700 and asked[1][0] == 730
    assert asked[1][-1] + 50 - 20 == asked[2][0]
    customers = state["bookmarks"]["customers"]
    assert customers["ponte_resume"] is None and not customers.get("ponte_interrupted_run")
    today = dt.datetime.now(ZoneInfo("America/Sao_Paulo")).date().isoformat()
    assert customers["replication_key_value"] == today  # the day the listing began: changes since are read next
    # the next run asks only for what changed since day one: the seven registered overnight
    assert sorted(r["id"] for r in after.records("customers")) == list(range(2001, 2008))


def test_the_servers_spent_daily_quota_ends_the_run_at_once_instead_of_waiting_for_midnight(tmp_path: Path) -> None:
    # Sienge's plan quota counted by the server (Kong): its last allowed answer says RateLimit-Remaining 0 with
    # RateLimit-Reset = seconds to midnight, because the day is the budget closest to running out
    with SandboxThread.start("sienge", "--daily-quota", "2") as sandbox:
        config = {**SIENGE, "base_url": sandbox.base_url, "state_dir": str(tmp_path / "state")}
        run = run_tap_in_process("tap-sienge", config, streams={"customers"}, timeout=60)
        statuses = [e["status"] for e in sandbox.request_log()]
    assert run.returncode == 0, run.stderr
    assert (
        "daily request quota is spent (HTTP 429 with X-RateLimit-Remaining-Day: 0, limit 2 requests per day)"
        in run.stderr
    )
    assert statuses == [200, 200, 429]
    assert len(run.records("customers")) == 400
    assert run.last_state["bookmarks"]["customers"]["ponte_resume"]["done"] == 200


def test_a_full_table_stream_spread_over_two_days_keeps_one_version_and_activates_it_once(tmp_path: Path) -> None:
    # 350 creditors in pages of 50 = 7 requests; the quota allows 4 a day
    args = ("--max-limit", "50", "--limit-over-max", "clamp")
    with SandboxThread.start("sienge", *args) as sandbox:
        config = {**SIENGE, "base_url": sandbox.base_url, "state_dir": str(tmp_path / "state"), "daily_quota": 4}
        selected = catalog("tap-sienge", config, {"creditors"})
        first = run_tap_in_process("tap-sienge", config, catalog=selected)
        pass_midnight(tmp_path / "state")
        second = run_tap_in_process("tap-sienge", config, catalog=selected, state=first.last_state)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    versions = {m["version"] for run in (first, second) for m in run.of_type("RECORD")}
    assert len(versions) == 1, "records of both days belong to one table version"
    assert not first.of_type("ACTIVATE_VERSION"), "nothing may be retired before the last row was read"
    assert [m["version"] for m in second.of_type("ACTIVATE_VERSION")] == list(versions)
    ids = Counter(r["id"] for run in (first, second) for r in run.records("creditors"))
    assert len(ids) == 350 and max(ids.values()) == 1
    assert second.last_state["bookmarks"]["creditors"]["ponte_version"] is None


def test_a_parent_record_whose_children_were_cut_short_goes_out_with_them_the_next_day(tmp_path: Path) -> None:
    # 3 active cost databases, each with 50 resources in pages of 10 (the sandbox serves at most 10): 16 requests,
    # and 2 more to realign the next day on the last resource emitted; 10 a day
    args = ("--max-limit", "10", "--limit-over-max", "clamp")
    streams = {"cost_databases", "cost_database_resources"}
    with SandboxThread.start("sienge", *args) as sandbox:
        config = {**SIENGE, "base_url": sandbox.base_url, "state_dir": str(tmp_path / "state"), "daily_quota": 10}
        selected = catalog("tap-sienge", config, streams)
        runs: list[SingerRun] = []
        state = None
        for _ in range(2):
            run = run_tap_in_process("tap-sienge", config, catalog=selected, state=state)
            assert run.returncode == 0, run.stderr
            runs.append(run)
            state = run.last_state
            pass_midnight(tmp_path / "state")
    databases = Counter(r["id"] for run in runs for r in run.records("cost_databases"))
    resources = Counter((r["costDatabaseId"], r["id"]) for run in runs for r in run.records("cost_database_resources"))
    assert len(databases) == 3 and max(databases.values()) == 1
    assert len(resources) == 150 and max(resources.values()) == 1
    # a database goes out with the last of its resources: never before its children were all read
    first_db, second_db = sorted(databases)[:2]
    assert [r["id"] for r in runs[0].records("cost_databases")] == [first_db]
    assert {r["costDatabaseId"] for r in runs[0].records("cost_database_resources")} == {first_db, second_db}
    activations = [(run_no, m["stream"]) for run_no, run in enumerate(runs) for m in run.of_type("ACTIVATE_VERSION")]
    assert activations == [(1, "cost_databases"), (1, "cost_database_resources")]
    assert not state["bookmarks"]["cost_databases"]["ponte_interrupted_run"]
    assert len({m["version"] for run in runs for m in run.of_type("RECORD")}) == 1


# -- several accounts: one runs out, the others do not ------------------------------------------------------


def bling_config(sandbox: SandboxProcess, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "accounts": [{"name": name} for name in BLING_ACCOUNTS],
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "base_url": sandbox.base_url,
        "authorize_url": f"{sandbox.base_url}/oauth/authorize",
        "token_store_path": str(tmp_path / "tokens.json"),
        "state_dir": str(tmp_path / "state"),
        "requests_per_second": 1000,
        "backoff_base_seconds": 0.05,
        **extra,
    }


def by_account(run: SingerRun, stream: str, key: str = "id") -> dict[str, list[int]]:
    found: dict[str, list[int]] = {name: [] for name in BLING_ACCOUNTS}
    for record in run.records(stream):
        found[record["conta"]].append(record[key])
    return found


def account_requests(sandbox: SandboxProcess, company: str) -> list[str]:
    return [e["path"] for e in sandbox.request_log() if e.get("company") == company and "/oauth/" not in e["path"]]


@pytest.mark.parametrize("counted_by", ["server", "tap"])
def test_one_accounts_spent_quota_stops_only_that_account_which_completes_the_next_day(
    tmp_path: Path, counted_by: str
) -> None:
    # read in this order (the SDK sorts streams by name); per account (a page shorter than 100 is the last):
    # contatos 1 request, depositos 1, empresa 1, produtos 1 page + 40 details, produtos_lotes 1 page of ids +
    # 1 page of lots = 46 a day
    streams = {"contatos", "depositos", "empresa", "produtos", "produtos_lotes"}
    args = ("--products", "40", "--contacts", "20", "--set", "rate_limit=1000")
    with SandboxThread.start("bling", *args) as sandbox:
        bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", BLING_ACCOUNTS)
        expected = {name: _all_ids(sandbox, name, "/produtos", criterio=5) for name in BLING_ACCOUNTS}
        sandbox.session.post(f"{sandbox.url}/_sandbox/reset-limits", timeout=10).raise_for_status()
        if counted_by == "server":  # Bling counts: 429 {"period": "day"}; another integration used 40 of 60
            sandbox.configure(daily_quota=60)
            token = bling_tokens.grant(sandbox, "loja-matriz")["access_token"]
            for _ in range(40):
                requests.get(
                    f"{sandbox.base_url}/empresas/me/dados-basicos",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                ).raise_for_status()
            config = bling_config(sandbox, tmp_path)
        else:  # the tap counts (daily_quota); a run for loja-matriz alone this morning spent 42 of its 60
            sandbox.configure(daily_quota=0)
            config = bling_config(sandbox, tmp_path, daily_quota=60)
            morning = run_tap_in_process(
                "tap-bling", {**config, "accounts": [{"name": "loja-matriz"}]}, streams={"produtos"}
            )
            assert morning.returncode == 0, morning.stderr
        selected = catalog("tap-bling", config, streams)
        sandbox.reset_log()
        first = run_tap_in_process("tap-bling", config, catalog=selected)
        assert first.returncode == 0, first.stderr

        # midnight: the server's and the tap's daily counters start again
        sandbox.session.post(f"{sandbox.url}/_sandbox/reset-limits", timeout=10).raise_for_status()
        pass_midnight(tmp_path / "state")
        sandbox.reset_log()
        second = run_tap_in_process("tap-bling", config, catalog=selected, state=first.last_state)
        assert second.returncode == 0, second.stderr
        second_requests = {name: account_requests(sandbox, name) for name in BLING_ACCOUNTS}

    # day one: loja-filial is read to the end although loja-matriz ran out first
    assert sorted(by_account(first, "produtos")["loja-filial"]) == sorted(expected["loja-filial"])
    assert by_account(first, "produtos_lotes", "idLote")["loja-filial"]
    assert "account 'loja-matriz' stopped for today" in first.stderr
    assert "Traceback" not in first.stderr
    partial = by_account(first, "produtos")["loja-matriz"]
    assert 0 < len(partial) < 40 and not by_account(first, "produtos_lotes", "idLote")["loja-matriz"]
    # day two: loja-matriz goes on where it stopped; what it had finished is not asked again
    rest = by_account(second, "produtos")["loja-matriz"]
    assert sorted(partial + rest) == sorted(expected["loja-matriz"]), "each product of loja-matriz exactly once"
    assert by_account(second, "produtos_lotes", "idLote")["loja-matriz"]
    assert not [p for p in second_requests["loja-matriz"] if p.endswith(("/contatos", "/depositos", "/dados-basicos"))]
    # the page it stopped in (the only one), the details it had not fetched, then produtos_lotes
    assert len(second_requests["loja-matriz"]) == 1 + (40 - len(partial)) + 2
    # loja-filial, whose day one ended normally, runs a normal incremental day: nothing changed
    assert by_account(second, "produtos")["loja-filial"] == []
    for partition in second.last_state["bookmarks"]["produtos"]["partitions"]:
        assert partition["ponte_resume"] is None and not partition.get("ponte_interrupted_run")


def test_with_accounts_the_next_day_skips_the_streams_the_stopped_run_had_finished(tmp_path: Path) -> None:
    # one account in `accounts:`; 20 requests a day: contatos, depositos and empresa fit, produtos does not
    streams = {"contatos", "depositos", "empresa", "produtos"}
    with SandboxThread.start("bling", "--products", "40", "--contacts", "20", "--set", "rate_limit=1000") as sandbox:
        bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", ["loja-matriz"])
        config = bling_config(sandbox, tmp_path, accounts=[{"name": "loja-matriz"}], daily_quota=20)
        selected = catalog("tap-bling", config, streams)
        first = run_tap_in_process("tap-bling", config, catalog=selected)
        pass_midnight(tmp_path / "state")
        sandbox.reset_log()
        second = run_tap_in_process("tap-bling", config, catalog=selected, state=first.last_state)
        asked = account_requests(sandbox, "loja-matriz")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert len(first.records("contatos")) == 20 and first.records("empresa")
    assert not [path for path in asked if path.endswith(("/contatos", "/depositos", "/dados-basicos"))], asked
    assert "skipping streams it finished: contatos, depositos, empresa" in second.stderr
    # the whole second day goes to produtos: its listing page again, then 19 of the details not fetched yet
    before, after = ({r["id"] for r in run.records("produtos")} for run in (first, second))
    assert len(before) == 16 and len(after) == 19 and not before & after  # day one: 20 - 3 requests - the page


def _all_ids(sandbox: SandboxProcess, company: str, path: str, **params: Any) -> list[int]:
    """Read a listing directly as the company (admin grant; the sandbox does not count OAuth calls)."""
    token = bling_tokens.grant(sandbox, company)["access_token"]
    found: list[int] = []
    page = 1
    while True:
        answer = requests.get(
            f"{sandbox.base_url}{path}",
            params={"pagina": page, "limite": 100, **params},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        answer.raise_for_status()
        data = answer.json()["data"]
        if not data:
            return found
        found.extend(row["id"] for row in data)
        page += 1
