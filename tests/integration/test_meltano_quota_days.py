"""Through Meltano, day after day: a daily quota smaller than the data, with Meltano keeping the state.

Sienge: `meltano run tap-sienge target-postgres` once a "day" against the sandbox, whose plan allows 25 requests
a day (a blocking 429 once spent, as on Sienge's Free plan); a day ends when the sandbox clock moves to the next.
What the user sees: every row in PostgreSQL once, none written twice (the run log counts no update), and none of
a full-table stream read over two days retired by its own ACTIVATE_VERSION.

Bling, two accounts: the one whose quota runs out is loaded the next day, the other in full on the first day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest
import requests

from ponte.testing import SandboxProcess, bling_tokens
from ponte.testing.meltano_run import meltano_run as run_meltano
from ponte.testing.quota_clock import pass_midnight

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
BLING_ACCOUNTS = ("loja-matriz", "loja-filial")  # the sandbox's two companies


def meltano_run(sandbox: SandboxProcess, schema: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
        "TAP_SIENGE__SELECT": json.dumps(["customers.*", "units.*"]),
        "TAP_SIENGE_BASE_URL": sandbox.base_url,
        "TAP_SIENGE_STATE_DIR": str(Path("/tmp") / schema),
        "TAP_SIENGE_BACKOFF_BASE_SECONDS": "0.05",
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_log",
    }
    return run_meltano(PROJECT, ["tap-sienge", "target-postgres"], env)


def test_three_days_of_a_small_quota_land_every_row_once(meltano_installed: None, pg_schema: str) -> None:
    # pages of 50: 2,000 customers (incremental) take 40 requests, then 600 units (full table) 12; 25 a day, so
    # customers end on day two and units run from day two into day three
    args = ("--records", "2000", "--max-limit", "50", "--limit-over-max", "clamp", "--daily-quota", "25")
    day = dt.datetime.fromisoformat("2026-07-01T12:00:00-03:00")
    requests_per_day = []
    with SandboxProcess.start("sienge", *args) as sandbox:
        for number in range(3):
            sandbox.configure(now=(day + dt.timedelta(days=number)).isoformat())
            sandbox.reset_log()
            run = meltano_run(sandbox, pg_schema)
            assert run.returncode == 0, run.stderr[-3000:]
            if number < 2:
                assert "daily request quota is spent" in run.stderr, run.stderr[-3000:]
            requests_per_day.append(sum(1 for e in sandbox.request_log() if e["status"] == 200))
    with psycopg.connect(ADMIN_DSN) as conn:
        rows = {
            table: conn.execute(f'SELECT count(*) FROM "{pg_schema}"."{table}"').fetchone()[0]
            for table in ("customers", "units")
        }
        retired = conn.execute(f'SELECT count(*) FROM "{pg_schema}".units WHERE _sdc_deleted_at IS NOT NULL').fetchone()
        written = {
            stream: (inserted, updated)
            for stream, inserted, updated in conn.execute(
                f'SELECT stream, sum(rows_inserted), sum(rows_updated) FROM "{pg_schema}_log".sync_runs GROUP BY stream'
            ).fetchall()
        }
    assert requests_per_day == [25, 25, 4]
    assert rows == {"customers": 2000, "units": 600}
    assert written == {"customers": (2000, 0), "units": (600, 0)}, "each row written once over the three days"
    assert retired == (0,), "rows read on day two were retired by the ACTIVATE_VERSION of day three"


def meltano_run_bling(sandbox: SandboxProcess, schema: str, work: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
        "TAP_BLING__SELECT": json.dumps(["depositos.*", "empresa.*", "produtos.*"]),
        "TAP_BLING_ACCOUNTS": json.dumps([{"name": name} for name in BLING_ACCOUNTS]),  # dev declares one
        "TAP_BLING_BASE_URL": sandbox.base_url,
        "TAP_BLING_AUTHORIZE_URL": f"{sandbox.base_url}/oauth/authorize",
        "TAP_BLING_TOKEN_STORE_PATH": str(work / "tokens.json"),
        "TAP_BLING_STATE_DIR": str(work / "state"),
        "TAP_BLING_REQUESTS_PER_SECOND": "1000",
        "TAP_BLING_BACKOFF_BASE_SECONDS": "0.05",
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_log",
    }
    return run_meltano(PROJECT, ["tap-bling", "target-postgres"], env)


def test_bling_account_that_runs_out_completes_the_next_day_while_the_other_is_loaded_in_full(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    # per account: depositos 2 requests, empresa 1, produtos 2 pages + 30 details; Bling allows 50 a day and
    # another integration already spent 30 of loja-matriz's (Bling answers 429 {"period": "day"})
    args = ("--products", "30", "--set", "rate_limit=1000", "--daily-quota", "50")
    with SandboxProcess.start("bling", *args) as sandbox:
        bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", BLING_ACCOUNTS)
        token = bling_tokens.grant(sandbox, "loja-matriz")["access_token"]
        for _ in range(30):
            requests.get(
                f"{sandbox.base_url}/empresas/me/dados-basicos",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).raise_for_status()
        first = meltano_run_bling(sandbox, pg_schema, tmp_path)
        assert first.returncode == 0, first.stderr[-3000:]
        with psycopg.connect(ADMIN_DSN) as conn:
            after_first = dict(
                conn.execute(f'SELECT conta, count(*) FROM "{pg_schema}".produtos GROUP BY conta').fetchall()
            )
        # midnight: both the server's and the tap's daily counters start again
        sandbox.session.post(f"{sandbox.url}/_sandbox/reset-limits", timeout=10).raise_for_status()
        pass_midnight(tmp_path / "state")
        second = meltano_run_bling(sandbox, pg_schema, tmp_path)
        assert second.returncode == 0, second.stderr[-3000:]
    with psycopg.connect(ADMIN_DSN) as conn:
        products = dict(conn.execute(f'SELECT conta, count(*) FROM "{pg_schema}".produtos GROUP BY conta').fetchall())
        updated = conn.execute(
            f"SELECT sum(rows_updated) FROM \"{pg_schema}_log\".sync_runs WHERE stream = 'produtos'"
        ).fetchone()[0]
    assert after_first.get("loja-filial") == 30, "the account with quota left is loaded in full on day one"
    assert 0 < after_first.get("loja-matriz", 0) < 30
    assert "account 'loja-matriz' stopped for today" in first.stderr
    assert products == {"loja-matriz": 30, "loja-filial": 30}
    assert updated == 0, "no product of loja-matriz was read twice"
