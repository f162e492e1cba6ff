"""Token stores: a 0600 JSON file replaced atomically, an encrypted Postgres table, locks across processes."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ponte.auth import token_store as ts
from ponte.auth.token_store import (
    FileTokenStore,
    PostgresTokenStore,
    TokenLockTimeout,
    TokenRecord,
    build_token_store,
)
from ponte.core.errors import ConfigError
from ponte.testing.postgres import postgres_unavailable

PG_DSN = os.environ.get("PONTE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")

# A child process that takes the lock of one key of a store, reporting on stdout.
# argv: kind (file|postgres), location (path or dsn), table, encryption key, key, mode (probe|count:N)
CHILD = r"""
import sys
from ponte.auth.token_store import FileTokenStore, PostgresTokenStore, TokenLockTimeout, TokenRecord

kind, location, table, secret, key, mode = sys.argv[1:7]
store = FileTokenStore(location) if kind == "file" else PostgresTokenStore(location, table, secret)
if mode == "probe":
    try:
        with store.lock(key, timeout=0):
            print("acquired", flush=True)
    except TokenLockTimeout:
        print("busy", flush=True)
else:
    for _ in range(int(mode.split(":")[1])):
        with store.lock(key):
            record = store.load(key)
            count = int(record.access_token) if record else 0
            store.save(key, TokenRecord(str(count + 1), "r", 0.0))
    print("done", flush=True)
"""


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out.strip()


def record(n: int = 1) -> TokenRecord:
    return TokenRecord(f"access-{n}-abcdef", f"refresh-{n}-abcdef", 1_900_000_000.0, "1 2 3", 1_800_000_000.0)


# -- file ---------------------------------------------------------------------------------------------------


def test_file_store_round_trip_with_private_modes(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "sub" / "tokens.json")
    assert store.load("a") is None
    store.save("a", record(1))
    store.save("b", record(2))
    assert store.load("a") == record(1)
    assert store.load("b") == record(2)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    with store.lock("a"):
        pass
    locks = list(store.path.parent.glob("*.lock"))
    assert locks and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in locks)
    assert store.describe() == f"file {store.path}"


def test_file_store_narrows_a_wide_mode_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save("a", record())
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="ponte.auth"):
        assert FileTokenStore(path).load("a") == record()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "0600" in caplog.text and "644" in caplog.text


def test_file_store_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save("a", record(1))
    before = store.path.read_bytes()

    def crash(*_: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(ts.os, "replace", crash)
    with pytest.raises(OSError):
        store.save("a", record(2))
    monkeypatch.undo()
    assert store.path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["tokens.json"]


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    args = ("file", str(store.path), "-", "-", "acct")
    with store.lock("acct"):
        assert finish(child(*args, "probe")) == "busy"
        # another key is not blocked
        assert finish(child("file", str(store.path), "-", "-", "other", "probe")) == "acquired"
    assert finish(child(*args, "probe")) == "acquired"


def test_file_lock_excludes_another_thread(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    outcome: list[str] = []

    def probe() -> None:
        try:
            with FileTokenStore(store.path).lock("acct", timeout=0):
                outcome.append("acquired")
        except TokenLockTimeout:
            outcome.append("busy")

    with store.lock("acct"):
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    probe()
    assert outcome == ["busy", "acquired"]


def test_file_lock_gives_no_lost_updates_across_processes(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    procs = [child("file", str(store.path), "-", "-", "counter", "count:25") for _ in range(3)]
    for _ in range(25):
        with store.lock("counter"):
            current = store.load("counter")
            store.save("counter", TokenRecord(str(int(current.access_token) + 1 if current else 1), "r", 0.0))
    assert [finish(p) for p in procs] == ["done"] * 3
    assert store.load("counter").access_token == "100"


def test_token_call_budget_is_a_rolling_window_shared_by_instances(tmp_path: Path) -> None:
    one, two = FileTokenStore(tmp_path / "t.json"), FileTokenStore(tmp_path / "t.json")
    assert one.reserve_token_call(2, 60, now=1000.0) == 0.0
    assert two.reserve_token_call(2, 60, now=1010.0) == 0.0
    assert one.reserve_token_call(2, 60, now=1020.0) == pytest.approx(40.0)  # until the call at 1000 ages out
    assert two.reserve_token_call(2, 60, now=1060.0) == 0.0
    assert one.token_calls() == [1010.0, 1060.0]
    assert json.loads(one.path.read_text())["token_calls"] == [1010.0, 1060.0]


def test_build_token_store_defaults_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = build_token_store({"key": "k", "type": None, "path": None})
    assert isinstance(store, FileTokenStore) and store.path == Path(".ponte/tokens.json")
    assert build_token_store({"type": "file", "path": "x/t.json", "key": "k"}).path == Path("x/t.json")
    with pytest.raises(ConfigError, match="unknown token_store type 'redis'"):
        build_token_store({"type": "redis", "key": "k"})


# -- postgres -----------------------------------------------------------------------------------------------


@pytest.fixture
def pg_schema() -> Iterator[str]:
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        postgres_unavailable("no PostgreSQL at PONTE_TEST_PG_DSN")
    schema = f"tokens_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def test_postgres_store_refuses_to_start_without_an_encryption_key() -> None:
    with pytest.raises(ConfigError, match="encryption_key"):
        PostgresTokenStore(PG_DSN, "ponte.oauth_tokens", None)
    with pytest.raises(ConfigError, match="encryption_key"):
        build_token_store({"type": "postgres", "dsn": PG_DSN, "encryption_key": None, "key": "k"})


def test_postgres_store_round_trip_keeps_only_ciphertext(pg_schema: str) -> None:
    table = f"{pg_schema}.oauth_tokens"
    store = PostgresTokenStore(PG_DSN, table, "a long passphrase")
    assert store.load("bling-a") is None  # creates schema and table
    store.save("bling-a", record(1))
    store.save("bling-a", record(2))
    assert store.load("bling-a") == record(2)
    assert PostgresTokenStore(PG_DSN, table, "a long passphrase").load("bling-a") == record(2)
    with psycopg.connect(PG_DSN) as conn:
        rows = conn.execute(f'SELECT key, ciphertext FROM "{pg_schema}".oauth_tokens').fetchall()
    assert [r[0] for r in rows] == ["bling-a"]
    assert "access-2" not in rows[0][1] and "refresh-2" not in rows[0][1]
    with pytest.raises(ConfigError, match="encryption_key is not the one"):
        PostgresTokenStore(PG_DSN, table, "another key").load("bling-a")
    assert "postgres table" in store.describe() and "passphrase" not in store.describe()


def test_postgres_lock_excludes_another_process_and_budget_is_shared(pg_schema: str) -> None:
    table = f"{pg_schema}.oauth_tokens"
    store = PostgresTokenStore(PG_DSN, table, "k3y-k3y-k3y")
    args = ("postgres", PG_DSN, table, "k3y-k3y-k3y", "acct")
    with store.lock("acct"):
        assert finish(child(*args, "probe")) == "busy"
    assert finish(child(*args, "probe")) == "acquired"
    procs = [child(*args[:4], "counter", "count:10") for _ in range(2)]
    assert [finish(p) for p in procs] == ["done", "done"]
    assert store.load("counter").access_token == "20"
    other = PostgresTokenStore(PG_DSN, table, "k3y-k3y-k3y")
    assert store.reserve_token_call(1, 60, now=500.0) == 0.0
    assert other.reserve_token_call(1, 60, now=530.0) == pytest.approx(30.0)
    assert other.token_calls() == [500.0]
