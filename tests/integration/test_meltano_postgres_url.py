"""TARGET_POSTGRES_SQLALCHEMY_URL, the variable MeltanoLabs target-postgres users set, decides where rows land.

Meltano hands a plugin only the settings meltano.yml declares: before `sqlalchemy_url` was declared, the
variable was silently dropped and the rows went to the `database` default, `ponte`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ponte.testing import SandboxProcess
from ponte.testing import postgres as pg
from ponte.testing.meltano_run import meltano_run

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database of its own, dropped afterwards."""
    with pg.scratch_database("ponte_url") as name:
        yield name


def test_rows_land_in_the_database_sqlalchemy_url_names(meltano_installed: None, scratch_database: str) -> None:
    with SandboxProcess.start("sienge", "--records", "5") as sandbox:
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_RUN_STATE_ID_SUFFIX": scratch_database,
            "TAP_SIENGE_BASE_URL": sandbox.base_url,
            "TAP_SIENGE_STATE_DIR": str(Path("/tmp") / scratch_database),
            "TAP_SIENGE__SELECT": '["indexers.*"]',
            "TARGET_POSTGRES_SQLALCHEMY_URL": pg.sqlalchemy_url(scratch_database),
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "sienge",
        }
        run = meltano_run(PROJECT, ["tap-sienge", "target-postgres"], env)
    assert run.returncode == 0, run.stderr[-3000:]
    with psycopg.connect(make_conninfo(pg.ADMIN_DSN, dbname=scratch_database)) as conn:
        assert conn.execute("SELECT count(*) FROM sienge.indexers").fetchone() == (8,)
        assert conn.execute("SELECT count(*) FROM ponte.sync_runs").fetchone() == (1,)
