"""`ponte dlq` against a real PostgreSQL: letters target-postgres wrote are listed, shown, fixed and replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ponte.runlog.dead_letters import DeadLetter, PostgresDeadLetterStore
from ponte.testing.cli import ponte_cli
from ponte.testing.postgres import postgres_unavailable

DSN = os.environ.get("PONTE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
BIN = Path(sys.executable).parent


def _command(name: str, module: str) -> list[str]:
    script = BIN / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


TARGET = _command("target-postgres", "ponte.targets.postgres.target")
PROPERTIES = {"id": {"type": "integer"}, "qty": {"type": ["integer", "null"]}, "name": {"type": ["string", "null"]}}


@pytest.fixture
def schema_name() -> Iterator[str]:
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        postgres_unavailable(f"PostgreSQL not reachable at {DSN!r}: {exc}")
    name = f"dlq_{uuid.uuid4().hex[:10]}"
    yield name
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    conn.close()


def target_config(tmp_path: Path, schema: str) -> str:
    path = tmp_path / "target.json"
    path.write_text(json.dumps({"dsn": DSN, "default_target_schema": schema, "log_schema": schema,
                                "pipeline_name": "tests"}))  # fmt: skip
    return str(path)


def run_target(config: str, payload: bytes) -> subprocess.CompletedProcess[bytes]:
    process = subprocess.run([*TARGET, "--config", config], input=payload, capture_output=True, timeout=300)
    assert process.returncode == 0, process.stderr.decode(errors="replace")[-3000:]
    return process


def messages(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def ponte(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return ponte_cli("dlq", *args, input=input)


def rows(schema: str, table: str) -> list[tuple]:
    with psycopg.connect(DSN) as conn:
        query = sql.SQL("SELECT id, qty, name FROM {} ORDER BY id").format(sql.Identifier(schema, table))
        return conn.execute(query).fetchall()


def test_list_show_edit_replay_mark(schema_name: str, tmp_path: Path) -> None:
    config = target_config(tmp_path, schema_name)
    run_target(config, messages(
        {"type": "SCHEMA", "stream": "stock", "schema": {"type": "object", "properties": PROPERTIES},
         "key_properties": ["id"]},
        {"type": "RECORD", "stream": "stock", "record": {"id": 1, "qty": 1, "name": "ok"}},
        {"type": "RECORD", "stream": "stock", "record": {"id": 2, "qty": "three", "name": "bad"}},
    ))  # fmt: skip
    assert rows(schema_name, "stock") == [(1, 1, "ok")]
    store = ["--dsn", DSN, "--schema", schema_name]

    listed = ponte("list", *store)
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()
    assert header.split()[:5] == ["ID", "TIME", "STATUS", "TARGET", "STREAM/ENTITY"]
    letter_id = line.split()[0]
    assert "postgres" in line and "stock" in line and "qty" in line
    [as_json] = [json.loads(x) for x in ponte("list", *store, "--json", "--target", "postgres").stdout.splitlines()]
    assert as_json["record"] == {"id": 2, "qty": "three", "name": "bad"} and as_json["status"] == "open"
    assert ponte("list", *store, "--stream", "other", "--json").stdout == ""

    shown = ponte("show", letter_id, *store)
    assert shown.returncode == 0, shown.stderr
    assert "'three' is not an integer" in shown.stdout and '"qty": "three"' in shown.stdout

    edited = ponte("edit", letter_id, *store, "--set", "qty=3")
    assert edited.returncode == 0, edited.stderr
    assert json.loads(ponte("show", letter_id, *store).stdout.split("record:\n")[1].split("api response:")[0]) == {
        "id": 2, "qty": 3, "name": "bad"
    }  # fmt: skip

    replayed = ponte("replay", letter_id, *store, "--target", "postgres", "--key", "id")
    assert replayed.returncode == 0, replayed.stderr
    schema_msg, record_msg = (json.loads(x) for x in replayed.stdout.splitlines())
    assert schema_msg["type"] == "SCHEMA" and schema_msg["stream"] == "stock" and schema_msg["key_properties"] == ["id"]
    assert record_msg == {"type": "RECORD", "stream": "stock", "record": {"id": 2, "qty": 3, "name": "bad"}}
    run_target(config, replayed.stdout.encode())
    assert rows(schema_name, "stock") == [(1, 1, "ok"), (2, 3, "bad")]

    assert ponte("list", *store).returncode == 0 and letter_id in ponte("list", *store).stdout
    marked = ponte("replay", letter_id, *store, "--target", "postgres", "--mark-replayed")
    assert marked.returncode == 0, marked.stderr
    assert ponte("list", *store, "--json").stdout == ""
    [after] = [json.loads(x) for x in ponte("list", *store, "--json", "--status", "replayed").stdout.splitlines()]
    assert after["id"] == int(letter_id)
    with psycopg.connect(DSN) as conn:
        query = sql.SQL("SELECT replayed_at IS NOT NULL FROM {} WHERE id = %s")
        assert conn.execute(query.format(sql.Identifier(schema_name, "dead_letters")), (int(letter_id),)).fetchone()[0]


def test_api_target_letters_share_the_table_and_errors_exit_2(
    schema_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PostgresDeadLetterStore(DSN, schema_name, redact=lambda t: t.replace("tok123", "***")) as store:
        [first, second] = store.add([
            DeadLetter(target="bling", stream="pedidos", entity="Pedido", record={"numero": 7},
                       reason="HTTP 422 (token tok123)", api_response={"erro": "cliente inválido"}, run_id="r-1"),
            DeadLetter(target="bling", stream="pedidos", record={"numero": 8}, reason="HTTP 400"),
        ])  # fmt: skip
        [got] = store.list(target="bling", run_id="r-1")
        assert got.id == first and got.reason == "HTTP 422 (token ***)" and got.entity == "Pedido"
    store_args = ["--dsn", DSN, "--schema", schema_name]
    shown = ponte("show", str(first), *store_args)
    assert "cliente inválido" in shown.stdout and "pedidos" in shown.stdout and "tok123" not in shown.stdout
    assert "pedidos/Pedido" in ponte("list", *store_args, "--target", "bling").stdout
    assert ponte("discard", str(second), *store_args).returncode == 0
    assert [json.loads(x)["id"] for x in ponte("list", *store_args, "--json").stdout.splitlines()] == [first]

    missing = ponte("show", "999999", *store_args)
    assert missing.returncode == 2 and "no dead letter with id 999999" in missing.stderr
    for name in [k for k in os.environ if k.startswith("PONTE_DLQ")]:
        monkeypatch.delenv(name)
    unconfigured = ponte("list")
    assert unconfigured.returncode == 2 and "no dead-letter store configured" in unconfigured.stderr
    wrong_target = ponte("replay", str(first), *store_args, "--target", "postgres")
    assert wrong_target.returncode == 2 and "belongs to target 'bling'" in wrong_target.stderr


def test_file_store_through_the_cli(tmp_path: Path) -> None:
    from ponte.runlog.dead_letters import FileDeadLetterStore

    path = tmp_path / "dlq.jsonl"
    FileDeadLetterStore(path).add([DeadLetter(target="sienge", stream="titulos", record={"id": 1}, reason="HTTP 500")])
    store = ["--store", f"file:{path}"]
    assert "titulos" in ponte("list", *store).stdout
    assert ponte("edit", "1", *store, "--set", 'note="fixed"').returncode == 0
    out = ponte("replay", "--all-open", *store, "--target", "sienge").stdout.splitlines()
    assert json.loads(out[1])["record"] == {"id": 1, "note": "fixed"}
    assert ponte("replay", "--all-open", *store, "--target", "sienge", "--mark-replayed").returncode == 0
    assert ponte("list", *store, "--json").stdout == ""
