"""A newcomer's first load meets a database that does not exist yet: one line naming the command that creates
it, and `ponte db create` creating it from the loader's own settings."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ponte.testing import console_script

ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
INPUT = "\n".join(
    json.dumps(message)
    for message in (
        {"type": "SCHEMA", "stream": "items", "schema": {"properties": {"id": {"type": "integer"}}}, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "items", "record": {"id": 1}},
        {"type": "RECORD", "stream": "items", "record": {"id": 2}},
    )
)  # fmt: skip


@pytest.fixture
def database_name() -> Iterator[str]:
    """A database name nobody has created; dropped after the test if it was."""
    name = f"ponte_t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def loader_env(database: str) -> dict[str, str]:
    """The loader's settings as a shell outside any Meltano project exports them."""
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_POSTGRES_", "MELTANO_"))}
    return {
        **env,
        "TARGET_POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "TARGET_POSTGRES_PORT": str(info.get("port") or "5432"),
        "TARGET_POSTGRES_USER": str(info.get("user") or "postgres"),
        "TARGET_POSTGRES_DATABASE": database,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "loaded",
    }


def load(database: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("target-postgres"), "--config", "ENV"],
        input=INPUT,
        cwd=folder,
        env=loader_env(database),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ponte_db_create(database: str, folder: Path) -> subprocess.CompletedProcess[str]:
    command = [console_script("ponte"), "db", "create"]
    env = loader_env(database)
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_missing_database_is_one_line_naming_the_fix_and_ponte_db_create_makes_it(
    database_name: str, tmp_path: Path
) -> None:
    missing = load(database_name, tmp_path)
    assert missing.returncode != 0
    assert "Traceback" not in missing.stderr
    error = [line for line in missing.stderr.splitlines() if "ERROR" in line]
    assert len(error) == 1, missing.stderr
    assert f"database '{database_name}' does not exist on " in error[0] and "`ponte db create`" in error[0]

    created = ponte_db_create(database_name, tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"database '{database_name}' created on " in created.stdout
    again = ponte_db_create(database_name, tmp_path)
    assert again.returncode == 0 and f"database '{database_name}' already exists" in again.stdout

    loaded = load(database_name, tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    with psycopg.connect(psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=database_name)) as conn:
        assert conn.execute("SELECT id FROM loaded.items ORDER BY id").fetchall() == [(1,), (2,)]
