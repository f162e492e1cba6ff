"""The user's path: `meltano run tap-sienge target-postgres` against the sandbox and the real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from ponte.testing import SandboxProcess, discover
from ponte.testing.meltano_run import meltano_run as run_meltano
from ponte.testing.pg_types import mistyped_columns

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
# Fields real Sienge responses (and the sandbox) carry that the official Swagger files lack, and their columns
UNDECLARED = {
    "customers": {
        "modifiedAtDateTime": ("modified_at_date_time", {"type": ["string", "null"], "format": "date-time"}),
        "socialName": ("social_name", {"type": ["string", "null"]}),
    },
    "creditors": {
        "creationDate": ("creation_date", {"type": ["string", "null"], "format": "date"}),
        "lastModificationDate": ("last_modification_date", {"type": ["string", "null"], "format": "date"}),
        "contacts": ("contacts", {"type": ["array", "null"]}),
    },
}
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def as_json(value: Any) -> Any:
    """A value read from PostgreSQL as the API wrote it (ISO dates and date-times, lists)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone(dt.timedelta(hours=-3))).isoformat(timespec="milliseconds")
    return value.isoformat() if isinstance(value, dt.date) else value


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


def sandbox_page(sandbox: SandboxProcess, path: str) -> dict[int, dict[str, Any]]:
    """The first 200 rows of a list endpoint, by id, as the sandbox serves them."""
    response = requests.get(f"{sandbox.base_url}{path}?limit=200", auth=("demo-api", "demo-secret"), timeout=10)
    return {row["id"]: row for row in response.json()["results"]}


def untouched(conn: psycopg.Connection, schema: str) -> dict[str, Any]:
    """What a run that changes nothing leaves as it was: columns and types, table files, customers' row versions."""
    return {
        "columns": conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "ORDER BY 1, 2",
            (schema,),
        ).fetchall(),
        "files": conn.execute(
            "SELECT relname, relfilenode FROM pg_class WHERE relnamespace = %s::regnamespace ORDER BY 1", (schema,)
        ).fetchall(),
        "customer_rows": conn.execute(f'SELECT id, xmin::text FROM "{schema}".customers ORDER BY id').fetchall(),
    }


def test_meltano_run_lands_typed_tables_and_a_second_run_changes_nothing(
    meltano_installed: None, pg_schema: str
) -> None:
    schema = pg_schema
    with SandboxProcess.start("sienge") as sandbox:
        first = meltano_run(sandbox, schema)
        assert first.returncode == 0, first.stderr[-3000:]
        sent = {stream: sandbox_page(sandbox, f"/{stream}") for stream in UNDECLARED}
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
            for stream, fields in UNDECLARED.items():
                catalog[stream].update({name: prop for name, (_, prop) in fields.items()})
            wrong = mistyped_columns(conn, schema, catalog)
            runs = conn.execute(f'SELECT stream, status, rows_inserted FROM "{schema}_log".sync_runs').fetchall()
            landed = {
                stream: {
                    row[0]: row[1:]
                    for row in conn.execute(
                        f'SELECT id, {", ".join(c for c, _ in fields.values())} FROM "{schema}"."{stream}"'
                    )
                }
                for stream, fields in UNDECLARED.items()
            }
            before = untouched(conn, schema)
        sandbox.reset_log()
        second = meltano_run(sandbox, schema)
        assert second.returncode == 0, second.stderr[-3000:]
        customer_requests = [e for e in sandbox.request_log() if e["path"].endswith("/customers")]
        with psycopg.connect(ADMIN_DSN) as conn:
            again = {t: conn.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0] for t in counts}
            after = untouched(conn, schema)

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
    # fields the Swagger lacks land as their own columns, with the values the API sent
    for stream, fields in UNDECLARED.items():
        for position, name in enumerate(fields):
            for key, row in sent[stream].items():
                assert as_json(landed[stream][key][position]) == row[name], (stream, name, key)
    assert any(row["socialName"] for row in sent["customers"].values())
    # the second run declares them from its first SCHEMA (remembered in the state): no column added, no type
    # changed, no table rewritten, no customer row written again
    assert after == before
    assert second.stderr.count("kept as in earlier runs") == 5
    # the second run asks only for customers changed since the first one (today, in São Paulo)
    assert len(customer_requests) == 1 and "modifiedAfter" in customer_requests[0]["query"]
