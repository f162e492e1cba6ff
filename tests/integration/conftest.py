"""Fixtures of the tests that run the real meltano CLI against real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ponte.testing.meltano_run import install_when_needed
from ponte.testing.wheel import built_wheel

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@pytest.fixture(scope="session")
def meltano_installed() -> None:
    """`meltano install` when meltano.yml, the dependencies or a plugin venv changed; once per pytest worker,
    one worker at a time.

    Several test modules need it and xdist runs them in parallel; two installs building the same plugin venv
    at once would trip over each other. When nothing needs installing, a worker does not wait for the Meltano
    runs of the others (install_when_needed).
    """
    install_when_needed(PROJECT)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema of its own for the tables and one for the run log; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}_log" CASCADE')


@pytest.fixture(scope="session")
def ponte_wheel(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The wheel built (through the sdist) from this checkout; one build shared by every xdist worker."""
    base = tmp_path_factory.getbasetemp()
    return built_wheel((base.parent if worker_id != "master" else base) / "ponte-wheel")
