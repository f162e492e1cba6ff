"""`meltano run tap-keyence target-postgres`: the gateway's files into typed tables, incremental across runs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from ponte.linefiles.declaration import load_line_format
from ponte.linefiles.views import ensure
from ponte.sandbox.keyence.gateway import DEFAULT_START, GatewaySimulator
from ponte.targets.postgres.settings import LoaderSettings
from ponte.testing.meltano_run import meltano_cli
from ponte.testing.pg_types import mistyped_columns

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
KEYENCE = PROJECT / "taps" / "keyence.yml"
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def meltano(schema: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
        "TAP_KEYENCE_FOLDER": str(folder),
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_log",
    }
    return meltano_cli(PROJECT, list(args), env)


def test_meltano_run_lands_typed_tables_and_resumes_from_its_state(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    sim = GatewaySimulator(tmp_path / "gw", lines=2, sensors=2, bad_rate=0.1, rotate_bytes=2000)
    moment = DEFAULT_START
    readings = bad = 0
    for ticks in (40, 30):
        for _ in range(ticks):
            written = sim.step(moment)
            readings += sum(w.reading for w in written)
            bad += sum(not w.reading for w in written)
            moment += dt.timedelta(seconds=0.25)
        run = meltano(pg_schema, tmp_path / "gw", "run", "tap-keyence", "target-postgres")
        assert run.returncode == 0, run.stderr[-3000:]
        with psycopg.connect(ADMIN_DSN) as conn:
            counts = conn.execute(
                f'SELECT (SELECT count(*) FROM "{pg_schema}".leituras), '
                f'(SELECT count(*) FROM "{pg_schema}".linhas_invalidas)'
            ).fetchone()
        assert counts == (readings, bad), "each line once, the second run only reads what is new"

    with psycopg.connect(ADMIN_DSN) as conn:
        tap_schema = {
            "leituras": {
                "lido_em": {"type": ["string"], "format": "date-time"},
                "linha": {"type": ["string"]},
                "sensor": {"type": ["string"]},
                "ordem_producao": {"type": ["string"]},
                "produzidos": {"type": ["integer"]},
                "rejeitados": {"type": ["integer"]},
                "_file_id": {"type": ["string"]},
                "_file_offset": {"type": ["integer"]},
                "_file_name": {"type": ["string"]},
                "_file_line": {"type": ["integer"]},
            },
            "linhas_invalidas": {
                "_file_id": {"type": ["string"]},
                "_file_offset": {"type": ["integer"]},
                "_file_name": {"type": ["string"]},
                "_file_line": {"type": ["integer"]},
                "raw_line": {"type": ["string"]},
                "reason": {"type": ["string"]},
            },
        }
        assert mistyped_columns(conn, pg_schema, tap_schema) == []
    ensure(
        LoaderSettings.from_config({"dsn": ADMIN_DSN, "default_target_schema": pg_schema}), load_line_format(KEYENCE)
    )
    with psycopg.connect(ADMIN_DSN) as conn:
        view = dict(
            conn.execute(
                f'SELECT (ordem_producao, linha)::text, produzidos FROM "{pg_schema}".producao_por_ordem'
            ).fetchall()
        )
        runs = conn.execute(f'SELECT DISTINCT stream, status FROM "{pg_schema}_log".sync_runs').fetchall()
    assert view == {f"({order},{line})": produced for (order, line), (produced, _) in sim.totals().items()}
    assert sorted(runs) == [("leituras", "succeeded"), ("linhas_invalidas", "succeeded")]
