"""singer-sdk's standard target test suite against a real PostgreSQL, each test in a fresh schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner

from ponte.targets.postgres.target import TargetPostgres
from ponte.testing.postgres import postgres_unavailable

DSN = os.environ.get("PONTE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema of its own for one test (tables and run log), dropped afterwards."""
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        postgres_unavailable(f"PostgreSQL not reachable at {DSN!r}: {exc}")
    name = f"sdk_{uuid.uuid4().hex[:10]}"
    yield name
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    conn.close()


StandardTargetTests = get_target_test_class(TargetPostgres, config={"dsn": DSN})


class TestTargetPostgresStandard(StandardTargetTests):
    """The SDK's generated tests (array data, camelCase, duplicates, schema updates, …)."""

    @pytest.fixture
    def runner(self, pg_schema: str) -> TargetTestRunner:
        config: dict[str, Any] = {"dsn": DSN, "default_target_schema": pg_schema, "log_schema": pg_schema}
        return TargetTestRunner(target_class=TargetPostgres, config=config, parse_env_config=False)
