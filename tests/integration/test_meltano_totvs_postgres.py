"""`meltano run tap-totvs target-postgres` for each TOTVS flavour, from the sandbox into typed PostgreSQL tables."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from ponte.testing import SandboxProcess, discover
from ponte.testing.meltano_run import meltano_run
from ponte.testing.pg_types import mistyped_columns

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
FLAVOURS = {
    "protheus": ("/rest", {"USERNAME": "admin", "PASSWORD": "totvs-sandbox"}),
    "rm": ("", {"USERNAME": "mestre", "PASSWORD": "totvs", "ACADEMIC_IDS": '["1|1|1", "1|1|2"]'}),
}


def test_meltano_run_lands_typed_totvs_tables_for_each_flavour(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    # one test, flavours in turn: two `meltano run` of the same plugin at once would share .meltano/run/tap-totvs
    for flavour in sorted(FLAVOURS):
        _check_flavour(f"{pg_schema}_{flavour}", tmp_path, flavour)


def _check_flavour(pg_schema: str, tmp_path: Path, flavour: str) -> None:
    prefix, credentials = FLAVOURS[flavour]
    with SandboxProcess.start("totvs", "--students", "60") as sandbox:
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "prod",  # dev's env block would override the credentials set here
            "MELTANO_RUN_STATE_ID_SUFFIX": pg_schema,
            "TAP_TOTVS_FLAVOUR": flavour,
            "TAP_TOTVS_BASE_URL": sandbox.url + prefix,
            **{f"TAP_TOTVS_{k}": v for k, v in credentials.items()},
            "TAP_TOTVS_STATE_DIR": str(tmp_path),
            "TARGET_POSTGRES_DSN": ADMIN_DSN,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": pg_schema,
            "TARGET_POSTGRES_LOG_SCHEMA": f"{pg_schema}_log",
        }
        run = meltano_run(PROJECT, ["tap-totvs", "target-postgres"], env)
        assert run.returncode == 0, run.stderr[-3000:]
    config = {"flavour": flavour, "base_url": "http://x", "username": "u", "password": "p"}
    catalog = {s["tap_stream_id"]: s["schema"]["properties"] for s in discover("tap-totvs", config)["streams"]}
    with psycopg.connect(ADMIN_DSN) as conn:
        counts = {t: conn.execute(f'SELECT count(*) FROM "{pg_schema}"."{t}"').fetchone()[0] for t in catalog}
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s",
                (pg_schema,),
            ).fetchall()
        )
        wrong = mistyped_columns(conn, pg_schema, catalog)
        dead = conn.execute(f'SELECT count(*) FROM "{pg_schema}_log".dead_letters').fetchone()[0]
    assert all(counts.values()), counts
    assert not wrong, wrong
    assert dead == 0
    if flavour == "protheus":
        expected = {
            "produtos.b1_xvelnom": "numeric",
            "ordens_producao.c2_emissao": "date",
            "ordens_producao.c2_quant": "numeric",
            "lotes.b8_dtvalid": "date",
            "ordens_producao._sdc_deleted_at": "timestamp with time zone",
        }
    else:
        expected = {"disciplinas_grade.workload": "numeric", "turmas.is_finished_term": "boolean"}
    assert {k: types.get(k) for k in expected} == expected
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}_log" CASCADE')
