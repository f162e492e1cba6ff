"""PostgreSQL for the tests: scratch databases on the test server, and what a test does when no server answers
(skip on a laptop, fail under CI).

A developer without PostgreSQL still gets the rest of the suite; CI (`CI=true`, set by `.ci/run`) must never
report green while a whole class of tests silently did not run.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict


def in_ci() -> bool:
    """True when `CI` says so (`true`, `1`, `yes`), as CI services and `.ci/run` set it."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, because PostgreSQL is not reachable (`reason` says where and why)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: PostgreSQL-dependent tests must run)", pytrace=False)
    pytest.skip(reason)


ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A database of the test's own on the test server (`<prefix>_<random>`), dropped afterwards even if in use."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(database: str, driver: str = "psycopg") -> str:
    """The URL a MeltanoLabs target-postgres user writes (`postgresql+<driver>://…`), for `database` on the test server."""
    parts = conninfo_to_dict(ADMIN_DSN)
    login = parts.get("user", "postgres") + (f":{parts['password']}" if parts.get("password") else "")
    return f"postgresql+{driver}://{login}@{parts.get('host', '127.0.0.1')}:{parts.get('port', 5432)}/{database}"
