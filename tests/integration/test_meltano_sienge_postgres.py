"""The user's path: `meltano run tap-sienge target-postgres` against the sandbox and the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from ponte.testing import SandboxProcess, discover
from ponte.testing.meltano_run import meltano_run as run_meltano
from ponte.testing.pg_types import mistyped_columns

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def meltano_run(sandbox: SandboxProcess, schema: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
        "TAP_SIENGE_BASE_URL": sandbox.base_url,
        "TAP_SIENGE_STATE_DIR": str(Path("/tmp") / schema),
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_log",
    }
    return run_meltano(PROJECT, ["tap-sienge", "target-postgres"], env)


def test_meltano_run_lands_typed_tables_and_a_second_run_changes_nothing(
    meltano_installed: None, pg_schema: str
) -> None:
    schema = pg_schema
    with SandboxProcess.start("sienge") as sandbox:
        first = meltano_run(sandbox, schema)
        assert first.returncode == 0, first.stderr[-3000:]
        with psycopg.connect(ADMIN_DSN) as conn:
            counts = {
                t: conn.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0]
                for t in ("customers", "companies", "payment_categories", "cost_database_resources")
            }
            types = dict(
                conn.execute(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
                    (schema,),
                ).fetchall()
            )
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
                )
            }
            catalog = {
                st["tap_stream_id"]: st["schema"]["properties"]
                for st in discover("tap-sienge", {"subdomain": "demo", "username": "u", "password": "p"})["streams"]
            }
            wrong = mistyped_columns(conn, schema, catalog)
            runs = conn.execute(f'SELECT stream, status, rows_inserted FROM "{schema}_log".sync_runs').fetchall()
        sandbox.reset_log()
        second = meltano_run(sandbox, schema)
        assert second.returncode == 0, second.stderr[-3000:]
        customer_requests = [e for e in sandbox.request_log() if e["path"].endswith("/customers")]
        with psycopg.connect(ADMIN_DSN) as conn:
            again = {t: conn.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0] for t in counts}

    assert counts["customers"] == 500
    assert min(counts.values()) > 0
    assert len(tables) == 24  # one table per declared stream
    expected_types = {
        "customers.id": "bigint",
        "customers.birth_date": "date",
        "customers.share_capital": "numeric",
        "customers.phones": "jsonb",
        "customers._sdc_extracted_at": "timestamp with time zone",
        "customers._sdc_deleted_at": "timestamp with time zone",
        "customers._sdc_table_version": "bigint",
        "companies.cnpj": "text",
        "cost_database_resources.cost_database_id": "bigint",
        "departments.active": "boolean",
    }
    assert {k: types.get(k) for k in expected_types} == expected_types
    assert {status for _, status, _ in runs} == {"succeeded"}
    # every column of every Sienge table has the type its JSON Schema asks for
    assert not wrong, wrong
    assert again == counts
    # the second run asks only for customers changed since the first one (today, in São Paulo)
    assert len(customer_requests) == 1 and "modifiedAfter" in customer_requests[0]["query"]
