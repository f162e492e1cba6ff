"""`meltano run tap-bling target-postgres`: two Bling accounts from the sandbox into typed PostgreSQL tables."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from ponte.testing import SandboxProcess, bling_tokens, discover
from ponte.testing.meltano_run import meltano_run as run_meltano
from ponte.testing.pg_types import mistyped_columns

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
ACCOUNTS = ("loja-matriz", "loja-filial")


def meltano_run(sandbox: SandboxProcess, schema: str, work: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
        "TAP_BLING_ACCOUNTS": json.dumps([{"name": name} for name in ACCOUNTS]),  # dev declares one
        "TAP_BLING_BASE_URL": sandbox.base_url,
        "TAP_BLING_AUTHORIZE_URL": f"{sandbox.base_url}/oauth/authorize",
        "TAP_BLING_TOKEN_STORE_PATH": str(work / "tokens.json"),
        "TAP_BLING_STATE_DIR": str(work / "state"),
        "TAP_BLING_REQUESTS_PER_SECOND": "1000",
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_log",
    }
    return run_meltano(PROJECT, ["tap-bling", "target-postgres"], env)


def test_meltano_run_lands_the_bling_tables_with_real_types(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    args = ("--products", "25", "--contacts", "20", "--orders", "20", "--set", "rate_limit=1000")
    with SandboxProcess.start("bling", *args) as sandbox:
        bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", ACCOUNTS)
        run = meltano_run(sandbox, pg_schema, tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        config = {"accounts": [{"name": a} for a in ACCOUNTS], "client_id": "x", "client_secret": "y"}
        catalog = {s["tap_stream_id"]: s["schema"]["properties"] for s in discover("tap-bling", config)["streams"]}
        with psycopg.connect(ADMIN_DSN) as conn:
            counts = dict(
                conn.execute(
                    "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = %s", (pg_schema,)
                ).fetchall()
            )
            per_account = {
                table: dict(conn.execute(f'SELECT conta, count(*) FROM "{pg_schema}"."{table}" GROUP BY conta'))
                for table in catalog
            }
            types = dict(
                conn.execute(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s",
                    (pg_schema,),
                ).fetchall()
            )
            keys = conn.execute(
                "SELECT tc.table_name, string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position) "
                "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu "
                "USING (constraint_schema, constraint_name) WHERE tc.table_schema = %s "
                "AND tc.constraint_type = 'PRIMARY KEY' GROUP BY tc.table_name",
                (pg_schema,),
            ).fetchall()
            wrong = mistyped_columns(conn, pg_schema, catalog)
            runs = conn.execute(f'SELECT stream, status FROM "{pg_schema}_log".sync_runs').fetchall()

    assert set(counts) >= set(catalog), "one table per stream"
    for table, by_account in per_account.items():
        assert set(by_account) == set(ACCOUNTS), f"{table}: {by_account}"
    assert per_account["produtos"]["loja-matriz"] >= 25
    expected_types = {
        "produtos.id": "bigint",
        "produtos.conta": "text",
        "produtos.preco": "numeric",
        "produtos.gtin": "text",
        "produtos.estoque": "jsonb",
        "pedidos_vendas.data": "date",
        "pedidos_vendas.total": "numeric",
        "pedidos_vendas.itens": "jsonb",
        "estoques_saldos.saldo_fisico_total": "numeric",
        "estoques_saldos.id_deposito": "bigint",
        "depositos.padrao": "boolean",
    }
    assert {k: types.get(k) for k in expected_types} == expected_types
    assert not wrong, wrong
    assert dict(keys)["estoques_saldos"] == "conta,id_deposito,id_produto"
    assert {status for _, status in runs} == {"succeeded"}
    assert json.dumps(run.stderr).count("sandbox-client-secret") == 0
