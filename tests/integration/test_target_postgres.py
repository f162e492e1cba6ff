"""target-postgres end to end: the console script in a subprocess, a real PostgreSQL, one schema per test."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import sql

from ponte.targets.postgres import names
from ponte.targets.postgres.reconnect import commit_landed
from ponte.testing.pg_proxy import Action, Decide, PgProxy
from ponte.testing.postgres import postgres_unavailable

DSN = os.environ.get("PONTE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
BIN = Path(sys.executable).parent


def _command(name: str, module: str) -> list[str]:
    script = BIN / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


TARGET = _command("target-postgres", "ponte.targets.postgres.target")
PONTE = _command("ponte", "ponte.cli.main")


# -- messages ------------------------------------------------------------------------------------------


def schema(stream: str, properties: dict[str, Any], keys: Iterable[str] = ("id",), **extra: Any) -> dict:
    return {"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": properties, **extra},
            "key_properties": list(keys)}  # fmt: skip


def record(stream: str, data: dict[str, Any], **extra: Any) -> dict:
    return {"type": "RECORD", "stream": stream, "record": data, **extra}


def state(value: Any) -> dict:
    return {"type": "STATE", "value": value}


def activate(stream: str, version: int) -> dict:
    return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}


_encoder = msgspec.json.Encoder(decimal_format="number")  # Decimal stays an exact JSON number


def lines(messages: Iterable[dict | bytes]) -> bytes:
    """JSON lines; bytes items are raw lines, for input a JSON encoder would refuse to produce."""
    return b"".join(m if isinstance(m, bytes) else _encoder.encode(m) + b"\n" for m in messages)


# -- running the target --------------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    states: list[Any] = field(default_factory=list)


@dataclass
class Database:
    """A fresh schema (tables and run log) plus helpers to run the target into it and read it back."""

    conn: psycopg.Connection
    schema: str
    tmp: Path

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"dsn": DSN, "default_target_schema": self.schema, "log_schema": self.schema,
                "pipeline_name": "tests", **extra}  # fmt: skip

    def config_file(self, **extra: Any) -> str:
        path = self.tmp / f"config-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(self.config(**extra)))
        return str(path)

    def run(self, messages: Iterable[dict], **extra: Any) -> Run:
        process = subprocess.run(
            [*TARGET, "--config", self.config_file(**extra)],
            input=lines(messages),
            capture_output=True,
            timeout=300,
            check=False,
        )
        out = process.stdout.decode()
        states = [json.loads(line) for line in out.splitlines() if line.strip()]
        return Run(process.returncode, out, process.stderr.decode(errors="replace"), states)

    def rows(self, table: str, columns: str = "*", order: str = "1") -> list[tuple]:
        query = f"SELECT {columns} FROM {{}} ORDER BY {order}"
        return self.conn.execute(sql.SQL(query).format(sql.Identifier(self.schema, table))).fetchall()

    def column_types(self, table: str) -> dict[str, str]:
        return dict(
            self.conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (self.schema, table),
            ).fetchall()
        )

    def runs(self) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY started_at, stream").format(sql.Identifier(self.schema, "sync_runs"))
        )
        names = [d.name for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def dead_letters(self) -> list[tuple]:
        return self.conn.execute(
            sql.SQL("SELECT stream, reason, record FROM {} ORDER BY id").format(
                sql.Identifier(self.schema, "dead_letters")
            )
        ).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        postgres_unavailable(f"PostgreSQL not reachable at {DSN!r}: {exc}")
    name = f"tp_{uuid.uuid4().hex[:10]}"
    yield Database(conn, name, tmp_path)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    conn.close()


def ok(run: Run) -> Run:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


# -- tables BI users can read --------------------------------------------------------------------------

CUSTOMER_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "clientName": {"type": "string", "description": "Nome do cliente"},
    "client_name": {"type": ["string", "null"]},
    "Situação": {"type": ["string", "null"]},
    "balance": {"type": ["number", "null"]},
    "bigCount": {"type": ["integer", "null"]},
    "active": {"type": ["boolean", "null"]},
    "birthDate": {"type": ["string", "null"], "format": "date"},
    "updatedAt": {"type": ["string", "null"], "format": "date-time"},
    "opensAt": {"type": ["string", "null"], "format": "time"},
    "address": {"type": ["object", "null"], "properties": {"city": {"type": "string"}}},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "anything": {},
}


def test_first_load_creates_typed_commented_snake_case_table(db: Database) -> None:
    first = {
        "id": 1,
        "clientName": 'Ana\tda Silva\nLtda \\ "aspas"',
        "client_name": "colliding field",
        "Situação": "ativo\u0000",
        "balance": Decimal("12345678901234567.89"),
        "bigCount": 2**62,
        "active": True,
        "birthDate": "1990-05-17",
        "updatedAt": "2026-01-02T03:04:05.123456-03:00",
        "opensAt": "08:30:00",
        "address": {"city": "Curitiba", "geo": [1.5, -2.25], "note": "nul\u0000here"},
        "tags": ["a", "b"],
        "anything": 7,
    }
    second = {"id": 2, "clientName": "Bruno", "address": None, "tags": []}
    run = ok(db.run([
        schema("Customers", CUSTOMER_PROPERTIES, description="Clientes do Sienge"),
        record("Customers", first, version=3, time_extracted="2026-01-02T06:00:00Z"),
        record("Customers", second),
        state({"bookmarks": {"Customers": 2}}),
    ]))  # fmt: skip
    assert run.states == [{"bookmarks": {"Customers": 2}}]
    assert db.column_types("customers") == {
        "id": "bigint",
        "client_name": "text",
        "client_name_2": "text",
        "situacao": "text",
        "balance": "numeric",
        "big_count": "bigint",
        "active": "boolean",
        "birth_date": "date",
        "updated_at": "timestamp with time zone",
        "opens_at": "time without time zone",
        "address": "jsonb",
        "tags": "jsonb",
        "anything": "jsonb",
        "_sdc_extracted_at": "timestamp with time zone",
        "_sdc_received_at": "timestamp with time zone",
        "_sdc_deleted_at": "timestamp with time zone",
        "_sdc_table_version": "bigint",
    }
    row = db.rows("customers", "id, client_name, client_name_2, situacao, balance, big_count, active, "
                  "birth_date::text, updated_at, opens_at::text, address, tags, anything, "
                  "_sdc_extracted_at, _sdc_table_version")[0]  # fmt: skip
    assert row[:7] == (1, first["clientName"], "colliding field", "ativo", Decimal("12345678901234567.89"), 2**62, True)
    assert row[7] == "1990-05-17" and row[9] == "08:30:00"
    assert row[8].isoformat() == "2026-01-02T06:04:05.123456+00:00"
    assert row[10] == {"city": "Curitiba", "geo": [1.5, -2.25], "note": "nulhere"}
    assert row[11:13] == (["a", "b"], 7)
    assert row[13].isoformat() == "2026-01-02T06:00:00+00:00" and row[14] == 3
    assert db.rows("customers", "id, address, tags")[1] == (2, None, [])

    pk = db.conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f"{db.schema}.customers",),
    ).fetchall()
    assert pk == [("id",)]
    comments = dict(
        db.conn.execute(
            "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0",
            (f"{db.schema}.customers",),
        ).fetchall()
    )
    assert comments["client_name"] == "Nome do cliente\nsource field: clientName"
    assert comments["client_name_2"] == "source field: client_name"
    assert comments["situacao"] == "source field: Situação"
    table_comment = db.conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (f"{db.schema}.customers",))
    assert table_comment.fetchone()[0] == "Clientes do Sienge\nsource stream: Customers"


def _column_comments(db: Database, table: str) -> dict[str, str]:
    return dict(
        db.conn.execute(
            "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (f"{db.schema}.{table}",),
        ).fetchall()
    )


def test_any_property_name_loads_and_keeps_its_column_on_the_next_run(db: Database) -> None:
    odd = {'say "hi"': "quote", "back\\slash": "backslash", "tab\there": "tab", "new\nline": "newline",
           "XMIN": "xmin", "Ctid": "ctid", "tableoid": "tableoid", "cmax": "cmax"}  # fmt: skip
    properties = {"id": {"type": "integer"}, **{name: {"type": ["string", "null"]} for name in odd}}
    for version in ("first", "second"):
        data = {"id": 1, **{name: f"{value} {version}" for name, value in odd.items()}}
        assert "Traceback" not in ok(db.run([schema("odd", properties), record("odd", data)])).stderr
    columns = {name: comment for name, comment in _column_comments(db, "odd").items() if not name.startswith("_sdc_")}
    expected = ["id", "say_hi", "back_slash", "tab_here", "new_line", "xmin_", "ctid_", "tableoid_", "cmax_"]
    assert list(columns) == expected
    assert [names.source_field_of(comment) for comment in columns.values()] == ["id", *odd]
    assert columns["xmin_"] == "source field: XMIN" and columns["new_line"] == 'source field: "new\\nline"'
    assert db.rows("odd", ", ".join(expected)) == [(1, *(f"{value} second" for value in odd.values()))]
    assert [(r["rows_inserted"], r["rows_updated"]) for r in db.runs()] == [(1, 0), (0, 1)]


def test_keys_that_merge_once_nul_is_removed_are_reported_once_per_stream(db: Database) -> None:
    properties = {"id": {"type": "integer"}, "a\x00b": {"type": ["string", "null"], "description": "with\x00nul"},
                  "ab": {"type": ["string", "null"]}, "obj": {"type": ["object", "null"]}}  # fmt: skip
    messages = [
        schema("nuls", properties),
        record("nuls", {"id": 1, "a\x00b": "x", "ab": "y"}),
        record("nuls", {"id": 2, "a\x00b": "z"}),
        record("nuls", {"id": 3, "ab": "w", "obj": {"k\x00": 1, "k": 2}}),
        record("nuls", {"id": 4, "a\x00b": "p", "ab": "q"}),
        record("nuls", {"id": 5, "ab": "\x00clean\x00"}),
        schema("other", {"id": {"type": "integer"}}),
        record("other", {"id": 1}),
    ]
    run = ok(db.run(messages))
    assert db.rows("nuls", "id, ab, obj") == [(1, "y", None), (2, "z", None), (3, "w", {"k": 2}), (4, "q", None),
                                              (5, "clean", None)]  # fmt: skip
    assert [name for name in db.column_types("nuls") if not name.startswith("_sdc_")] == ["id", "ab", "obj"]
    warnings = [line for line in run.stderr.splitlines() if "differ only by NUL" in line]
    assert len(warnings) == 1, run.stderr
    assert "stream 'nuls': 3 record(s) had keys that differ only by NUL characters" in warnings[0]
    assert '"a\\u0000b"' in warnings[0]
    assert 'schema properties "a\\u0000b" are the same field once NUL characters are removed' in run.stderr


# -- upserts -------------------------------------------------------------------------------------------

ORDER = {"id": {"type": "integer"}, "name": {"type": "string"}, "total": {"type": "number"}}


def _orders(names: dict[int, str], stream: str = "orders") -> list[dict]:
    return [record(stream, {"id": i, "name": n, "total": i * 10.5}) for i, n in names.items()]


def test_same_stream_twice_gives_the_same_rows_and_the_last_duplicate_wins(db: Database) -> None:
    messages = [
        schema("orders", ORDER),
        *_orders({1: "a", 2: "b", 3: "first"}),
        record("orders", {"id": 3, "name": "last", "total": 0}),
        *_orders({4: "d"}),
        state({"orders": 4}),
    ]
    ok(db.run(messages, batch_size_rows=2))  # duplicates split over batches and inside one
    first = db.rows("orders", "id, name, total, _sdc_deleted_at")
    ok(db.run(messages))  # second pass: the table holds every key, so it merges through staging
    assert db.rows("orders", "id, name, total, _sdc_deleted_at") == first
    assert first == [(1, "a", Decimal("10.5"), None), (2, "b", Decimal("21.0"), None),
                     (3, "last", Decimal("0"), None), (4, "d", Decimal("42.0"), None)]  # fmt: skip
    runs = [(r["status"], r["rows_inserted"], r["rows_updated"]) for r in db.runs()]
    assert runs == [("succeeded", 4, 0), ("succeeded", 0, 4)]  # a repeated key counts once


def test_streams_without_a_key_append(db: Database) -> None:
    messages = [schema("events", {"kind": {"type": "string"}}, keys=[]), *[record("events", {"kind": "x"})] * 3]
    ok(db.run(messages))
    ok(db.run(messages))
    assert len(db.rows("events")) == 6


def test_load_methods_overwrite_and_append_only(db: Database) -> None:
    ok(db.run([schema("orders", ORDER), *_orders({1: "a", 2: "b"})]))
    ok(db.run([schema("orders", ORDER), *_orders({3: "c"})], load_method="overwrite"))
    assert db.rows("orders", "id") == [(3,)]
    history = [schema("history", ORDER), *_orders({1: "a", 2: "b"}, "history")]
    ok(db.run(history, load_method="append-only"))
    ok(db.run(history, load_method="append-only"))
    assert db.rows("history", "id, name") == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]


def test_schema_mapping_chooses_schema_and_table(db: Database) -> None:
    ok(db.run([schema("orders", ORDER), *_orders({1: "a"})], schema_mapping={"orders": f"{db.schema}.pedidos"}))
    assert db.rows("pedidos", "id") == [(1,)]


def test_many_streams_share_a_few_connections(db: Database) -> None:
    app = f"cap_{uuid.uuid4().hex[:8]}"
    streams = [f"s{i}" for i in range(6)]
    sequential = [m for s in streams for m in (schema(s, ORDER), *_orders({1: "a", 2: "b", 3: "c"}, s))]
    interleaved = [schema(s, ORDER) for s in streams] + [
        record(s, {"id": i, "name": f"{s}-{i}", "total": i}) for i in range(1, 8) for s in streams
    ]
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            count = db.conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,))
            seen.append(count.fetchone()[0])
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ok(db.run(sequential, dsn=f"{DSN} application_name={app}", max_connections=2))
    finally:
        done.set()
        watcher.join()
    assert 0 < max(seen) <= 3, seen  # two streams + the run log (and the watcher did see them)
    ok(db.run(interleaved, max_connections=2, batch_size_rows=4))  # released sinks reconnect, staging and all
    for s in streams:
        assert db.rows(s, "id, name") == [(i, f"{s}-{i}") for i in range(1, 8)]


# -- schema evolution ----------------------------------------------------------------------------------


def test_schema_evolution_adds_widens_and_never_loses_data(db: Database) -> None:
    v1 = {"id": {"type": "integer"}, "amount": {"type": "integer"}, "code": {"type": "integer"}}
    ok(db.run([schema("items", v1), record("items", {"id": 1, "amount": 5, "code": 7})]))
    v2 = {
        "id": {"type": "integer"},
        "amount": {"type": "number"},  # widened: bigint -> numeric in place
        "code": {"type": "boolean"},  # incompatible: old column kept, new one added
        "color": {"type": "string"},  # new field
    }
    run = ok(db.run([schema("items", v2), record("items", {"id": 2, "amount": 1.25, "code": True, "color": "red"})]))
    types = db.column_types("items")
    assert types["amount"] == "numeric" and types["code"] == "bigint" and types["code__boolean"] == "boolean"
    assert types["color"] == "text"
    assert db.rows("items", "id, amount, code, code__boolean, color") == [
        (1, Decimal("5"), 7, None, None),
        (2, Decimal("1.25"), None, True, "red"),
    ]
    assert "field 'code' changed type from bigint to boolean" in run.stderr
    assert "column code keeps the old values and new values go to the new column code__boolean" in run.stderr


def test_a_schema_update_mid_run_adds_and_widens_columns_without_losing_rows(db: Database) -> None:
    """What a tap sends when a record brings a field its declared schema lacks (ponte.tap.undeclared_fields)."""
    v1 = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}
    v2 = {**v1, "socialName": {"type": ["string", "null"]}, "since": {"type": ["string", "null"], "format": "date"}}
    v3 = {**v2, "since": {"type": ["string", "null"]}}  # a later value was not a date: widened to text
    messages = [
        schema("people", v1),
        *(record("people", {"id": i, "name": f"p{i}"}) for i in range(1, 4)),
        state({"page": 1}),
        schema("people", v2),
        record("people", {"id": 4, "name": "p4", "socialName": "Ana", "since": "2020-01-02"}),
        record("people", {"id": 1, "name": "p1", "socialName": None, "since": "2021-03-04"}),
        schema("people", v3),
        record("people", {"id": 5, "name": "p5", "socialName": None, "since": "desde sempre"}),
        state({"page": 2}),
        schema("people", v3),
    ]
    run = ok(db.run(messages))
    assert [s["page"] for s in run.states] == [1, 2]
    types = db.column_types("people")
    assert (types["social_name"], types["since"]) == ("text", "text")
    assert db.rows("people", "id, name, social_name, since") == [
        (1, "p1", None, "2021-03-04"),
        (2, "p2", None, None),
        (3, "p3", None, None),
        (4, "p4", "Ana", "2020-01-02"),
        (5, "p5", None, "desde sempre"),
    ]
    assert "widened date to text" in run.stderr
    again = ok(db.run([schema("people", v3), record("people", {"id": 6, "name": "p6", "since": None})]))
    assert db.column_types("people") == types and "schema change" not in again.stderr


# -- deletions -----------------------------------------------------------------------------------------

PEOPLE = {"id": {"type": "integer"}, "name": {"type": "string"}}


def _full_sync(version: int, ids: Iterable[int], *, activate_first: bool = False) -> list[dict]:
    body = [record("people", {"id": i, "name": f"p{i}"}, version=version) for i in ids]
    start = [activate("people", version)] if activate_first else []
    return [schema("people", PEOPLE), *start, *body, activate("people", version)]


def test_activate_version_marks_rows_that_vanished(db: Database) -> None:
    ok(db.run(_full_sync(1, [1, 2, 3])))
    ok(db.run(_full_sync(2, [1, 2], activate_first=True)))
    rows = db.rows("people", "id, _sdc_deleted_at IS NOT NULL, _sdc_table_version")
    assert rows == [(1, False, 2), (2, False, 2), (3, True, 1)]
    assert db.runs()[-1]["rows_deleted"] == 1
    ok(db.run(_full_sync(3, [1, 3])))  # 3 comes back, 2 vanishes
    assert db.rows("people", "id, _sdc_deleted_at IS NOT NULL") == [(1, False), (2, True), (3, False)]
    ok(db.run([schema("people", PEOPLE), activate("people", 4)]))  # the source is now empty
    assert db.rows("people", "id, _sdc_deleted_at IS NOT NULL") == [(1, True), (2, True), (3, True)]


def test_activate_version_hard_deletes_when_configured(db: Database) -> None:
    ok(db.run(_full_sync(1, [1, 2, 3])))
    ok(db.run(_full_sync(2, [2]), hard_delete=True))
    assert db.rows("people", "id") == [(2,)]
    assert db.runs()[-1]["rows_deleted"] == 2


def test_records_flagged_deleted_are_kept_or_removed(db: Database) -> None:
    properties = {**PEOPLE, "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}
    flagged = [
        schema("people", properties),
        record("people", {"id": 1, "name": "a", "_sdc_deleted_at": None}),
        record("people", {"id": 2, "name": "b", "_sdc_deleted_at": "2026-05-01T00:00:00Z"}),
    ]
    ok(db.run(flagged))
    assert db.rows("people", "id, _sdc_deleted_at IS NOT NULL") == [(1, False), (2, True)]
    ok(db.run(flagged, hard_delete=True))
    assert db.rows("people", "id") == [(1,)]


# -- run log, dead letters, failures -------------------------------------------------------------------


def test_bad_records_go_to_dead_letters_and_good_ones_load(db: Database) -> None:
    properties = {
        "id": {"type": "integer"},
        "qty": {"type": "integer"},
        "day": {"type": "string", "format": "date"},
        "note": {"type": "string"},
        "price": {"type": ["number", "null"]},
    }
    good = [record("stock", {"id": i, "qty": i, "day": "2026-03-01"}) for i in (1, 2)]
    good.append(record("stock", {"id": 6, "price": "12.50"}))  # a quoted number: converted, not rejected
    bad = [
        record("stock", {"id": 3, "qty": "three", "day": "2026-03-01"}),
        record("stock", {"id": 4, "qty": 4, "day": "31/12/2026"}),
        record("stock", {"id": None, "qty": 5}),
        b'{"type": "RECORD", "stream": "stock", "record": {"id": 5, "note": "lone \\ud800 surrogate"}}\n',
    ]
    ok(db.run([schema("stock", properties), good[0], *bad, *good[1:], state({"s": 1})]))  # empty table: direct COPY
    ok(
        db.run(
            [schema("stock", properties), record("stock", {"id": 9, "qty": 9.5}), record("stock", {"id": 2, "qty": 20})]
        )
    )
    assert db.rows("stock", "id, qty, day::text, price") == [
        (1, 1, "2026-03-01", None),
        (2, 20, None, None),
        (6, None, None, Decimal("12.50")),
    ]
    letters = db.dead_letters()
    assert [r["id"] for _, _, r in letters] == [3, 4, None, 5, 9] and {s for s, _, _ in letters} == {"stock"}
    reasons = [reason for _, reason, _ in letters]
    assert "field 'qty'" in reasons[0] and "'three' is not an integer" in reasons[0]
    assert "field 'day'" in reasons[1] and "not an ISO 8601 date" in reasons[1]
    assert "key field 'id' is null" in reasons[2]
    assert "cannot be sent to PostgreSQL" in reasons[3] and letters[3][2]["note"] == "lone ? surrogate"
    assert "is not a whole number" in reasons[4]
    assert [(r["rows_inserted"], r["rows_updated"], r["rows_rejected"]) for r in db.runs()] == [(3, 0, 4), (0, 1, 1)]


def test_lone_surrogates_inside_objects_and_arrays_become_dead_letters(db: Database) -> None:
    properties = {"id": {"type": "integer"}, "obj": {"type": ["object", "null"]}, "arr": {"type": ["array", "null"]},
                  "note": {"type": ["string", "null"]}}  # fmt: skip
    messages = [
        schema("docs", properties),
        record("docs", {"id": 1, "obj": {"ok": [1.5]}, "arr": ["fine"]}),
        b'{"type": "RECORD", "stream": "docs", "record": {"id": 2, "obj": {"a": "x\\ud800y"}}}\n',
        b'{"type": "RECORD", "stream": "docs", "record": {"id": 3, "arr": [{"b": "\\udc00"}]}}\n',
        b'{"type": "RECORD", "stream": "docs", "record": {"id": 4, "note": {"c": "\\ud83d"}}}\n',
        record("docs", {"id": 5, "obj": None}),
        state({"docs": 5}),
    ]
    for extra in ({}, {"stream_maps": {"docs": {"__alias__": "docs_mapped"}}}):  # the loader alone, then the SDK's
        run = ok(db.run(messages, **extra))
        assert run.states == [{"docs": 5}] and "Traceback" not in run.stderr
    for table in ("docs", "docs_mapped"):
        assert db.rows(table, "id, obj, arr") == [(1, {"ok": [1.5]}, ["fine"]), (5, None, None)]
    letters = db.dead_letters()
    assert [(stream, r["id"]) for stream, _, r in letters] == [("docs", 2), ("docs", 3), ("docs", 4),
                                                              ("docs_mapped", 2), ("docs_mapped", 3), ("docs_mapped", 4)]  # fmt: skip
    assert letters[0][2]["obj"] == {"a": "x?y"}
    assert [reason.split(":")[0] for _, reason, _ in letters[:3]] == ["field 'obj'", "field 'arr'", "field 'note'"]
    assert all("lone UTF-16 surrogate" in reason for _, reason, _ in letters)


def _nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def test_records_nested_too_deep_to_decode_become_dead_letters(db: Database) -> None:
    properties = {"id": {"type": "integer"}, "obj": {"type": ["object", "null"]}, "note": {"type": ["string", "null"]}}
    deep = [
        f'{{"type": "RECORD", "stream": "trees", "record": {{"id": 2, "obj": {_nested(1000)}}}}}\n',
        f'{{"type": "RECORD", "stream": "trees", "record": {{"id": 3, "note": [{_nested(5000)}]}}}}\n',
        f'{{"type": "RECORD", "stream": "trees", "record": {{"obj": {_nested(100_000)}, "id": 4, "x": "\\u0000"}}}}\n',
    ]
    messages = [schema("trees", properties), record("trees", {"id": 1, "obj": {"a": {"b": [1]}}}),
                *(line.encode() for line in deep), record("trees", {"id": 5}), state({"trees": 5})]  # fmt: skip
    for extra in ({}, {"stream_maps": {"trees": {"__alias__": "trees_mapped"}}}):  # the loader alone, then the SDK's
        run = ok(db.run(messages, **extra))
        assert run.states == [{"trees": 5}] and "RecursionError" not in run.stderr
    for table in ("trees", "trees_mapped"):
        assert db.rows(table, "id, obj") == [(1, {"a": {"b": [1]}}), (5, None)]
    letters = db.dead_letters()
    assert [(stream, r["id"]) for stream, _, r in letters] == [
        ("trees", 2), ("trees", 3), ("trees", 4), ("trees_mapped", 2), ("trees_mapped", 3), ("trees_mapped", 4)
    ]  # fmt: skip
    assert all(reason.startswith("record is nested deeper than the loader can decode") for _, reason, _ in letters)
    kept = letters[0][2]["obj"]  # level 3 of the message; levels below 16 are cut
    for _ in range(13):
        kept = kept["a"]
    assert kept == {"a": "<nested too deep: cut here>"}
    assert [(r["rows_inserted"], r["rows_rejected"]) for r in db.runs()] == [(2, 3), (2, 3)]


def test_validate_records_sends_schema_violations_to_dead_letters(db: Database) -> None:
    properties = {"id": {"type": "integer"}, "status": {"type": "string", "enum": ["A", "B"]}}
    messages = [
        schema("flags", properties),
        record("flags", {"id": 1, "status": "A"}),
        record("flags", {"id": 2, "status": "Z"}),
    ]
    ok(db.run(messages, validate_records=True))
    assert db.rows("flags", "id, status") == [(1, "A")]
    [(_, reason, rejected)] = db.dead_letters()
    assert "does not match the stream schema" in reason and "'Z' is not one of ['A', 'B']" in reason
    assert rejected == {"id": 2, "status": "Z"}


def test_run_log_records_success_and_failure(db: Database) -> None:
    before = time.time()
    ok(db.run([schema("orders", ORDER), *_orders({1: "a"}), state({"n": 1})]))
    failed = db.run([schema("orders", ORDER), *_orders({2: "b"}), record("orders", {"name": "no key"})])
    assert failed.returncode != 0
    assert "no key property 'id'" in failed.stderr
    runs = db.runs()
    assert [(r["pipeline"], r["stream"], r["target_table"], r["status"]) for r in runs] == [
        ("tests", "orders", f"{db.schema}.orders", "succeeded"),
        ("tests", "orders", f"{db.schema}.orders", "failed"),
    ]
    assert runs[0]["started_at"].timestamp() >= before - 5 and runs[0]["finished_at"] >= runs[0]["started_at"]
    assert runs[0]["rows_inserted"] == 1 and runs[0]["error"] is None
    assert "MissingKeyPropertiesError" in runs[1]["error"] and "no key property 'id'" in runs[1]["error"]
    assert db.rows("orders", "id") == [(1,)]  # the failed run's open batch was rolled back


# -- STATE and crash safety ----------------------------------------------------------------------------


def test_state_is_emitted_only_after_the_records_before_it_are_committed(db: Database) -> None:
    messages = [state({"n": 0}), schema("orders", ORDER), *_orders({1: "a"}), state({"n": 1}),
                *_orders({2: "b"}), state({"n": 2})]  # fmt: skip
    assert ok(db.run(messages)).states == [{"n": 0}, {"n": 2}]  # {"n": 1} was superseded before any commit
    assert ok(db.run(messages, flush_interval_seconds=0)).states == [{"n": 0}, {"n": 1}, {"n": 2}]


def _stream(total: int, start: int = 1) -> Iterator[bytes]:
    yield lines(
        [schema("ledger", {"id": {"type": "integer"}, "amount": {"type": "number"}, "memo": {"type": "string"}})]
    )
    for first in range(start, total + 1, 1000):
        chunk = [
            record("ledger", {"id": i, "amount": i / 4, "memo": "x" * 50})
            for i in range(first, min(first + 1000, total + 1))
        ]
        yield lines([*chunk, state({"offset": chunk[-1]["record"]["id"]})])


def _start(db: Database, **extra: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [*TARGET, "--config", db.config_file(batch_size_rows=5000, **extra)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _feed_until_state(process: subprocess.Popen, total: int, offset: int) -> list[dict]:
    """Feed the stream slowly; return the STATEs read once one reaches `offset` (the load is still going)."""
    states: list[dict] = []

    def feed() -> None:
        try:
            for chunk in _stream(total):
                process.stdin.write(chunk)
                process.stdin.flush()
                time.sleep(0.01)
            process.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    threading.Thread(target=feed, daemon=True).start()
    for line in process.stdout:
        states.append(json.loads(line))
        if states[-1]["offset"] >= offset:
            break
    return states


def test_killed_load_resumes_from_its_state_without_losing_or_duplicating_rows(db: Database) -> None:
    total = 60_000
    process = _start(db)
    states = _feed_until_state(process, total, 20_000)
    process.kill()  # SIGKILL: no chance to clean up
    process.wait(timeout=30)
    claimed = states[-1]["offset"]
    assert claimed < total, "the load finished before it could be killed; slow the feed down"
    # STATE never claims more than was written: every record up to the bookmark is committed.
    committed = db.conn.execute(
        sql.SQL("SELECT count(*), max(id) FROM {} WHERE id <= %s").format(sql.Identifier(db.schema, "ledger")),
        (claimed,),
    ).fetchone()
    assert committed == (claimed, claimed)

    # Resume as a tap would from that bookmark (overlapping a little: at-least-once delivery).
    rerun = subprocess.run(
        [*TARGET, "--config", db.config_file(batch_size_rows=5000)],
        input=b"".join(_stream(total, start=claimed - 499)),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    count, distinct, low, high, amount = db.conn.execute(
        sql.SQL("SELECT count(*), count(DISTINCT id), min(id), max(id), sum(amount) FROM {}").format(
            sql.Identifier(db.schema, "ledger")
        )
    ).fetchone()
    assert (count, distinct, low, high) == (total, total, 1, total)
    assert amount == Decimal(sum(range(1, total + 1))) / 4
    assert [r["status"] for r in db.runs()] == ["interrupted", "succeeded"]


def test_sigterm_rolls_back_the_open_batch_and_records_the_interruption(db: Database) -> None:
    process = _start(db)
    _feed_until_state(process, 60_000, 10_000)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert "received signal 15" in process.stderr.read().decode()
    (count,) = db.conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(db.schema, "ledger"))
    ).fetchone()
    assert count % 5000 == 0  # only whole, committed batches
    assert [(r["status"], r["error"]) for r in db.runs()] == [("interrupted", "LoadInterrupted: stopped by signal 15")]


# -- lost connections ----------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[PgProxy]:
    """A proxy between the target and PostgreSQL that cuts connections on cue (the server itself is shared)."""
    with PgProxy.to(DSN) as running:
        yield running


def _cut_after_copy(
    copy_into: str, batch: int, action: Action, *, then: str = "COMMIT", down: PgProxy | None = None
) -> Decide:
    """Cut when the connection that sent the `batch`-th COPY into `copy_into` next sends `then` (a statement,
    or "copy_data" for its first row data); with `down`, that proxy refuses every connection from then on."""
    copies, armed = 0, None

    def decide(conn: int, kind: str, text: str) -> Action | None:
        nonlocal copies, armed
        if kind == "query" and text.startswith(f"COPY {copy_into} "):
            copies += 1
            armed = conn if copies == batch else armed
        elif conn == armed and (kind == then or text == then):
            armed = None
            if down is not None:
                down.refuse_connections = True
            return action
        return None

    return decide


def _ledger(db: Database) -> tuple[int, int, int, int]:
    query = "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {}"
    return db.conn.execute(sql.SQL(query).format(sql.Identifier(db.schema, "ledger"))).fetchone()


def _run_ledger(db: Database, dsn: str, total: int, start: int = 1, **extra: Any) -> Run:
    config = db.config_file(dsn=dsn, batch_size_rows=5000, reconnect_backoff_seconds=0.01, **extra)
    process = subprocess.run([*TARGET, "--config", config], input=b"".join(_stream(total, start)),
                             capture_output=True, timeout=120, check=False)  # fmt: skip
    out = process.stdout.decode()
    return Run(process.returncode, out, process.stderr.decode(), [json.loads(line) for line in out.splitlines()])


def test_lost_connection_mid_batch_replays_the_batch_on_a_new_one(db: Database, proxy: PgProxy) -> None:
    ledger = f'"{db.schema}"."ledger"'
    # A server restart in the middle of the 2nd batch: every connection drops, the run log's too.
    proxy.decide = _cut_after_copy(ledger, 2, "cut_all", then="copy_data")
    first = ok(_run_ledger(db, proxy.conninfo, 12_000))
    # Again over the full table (merged through staging): the connection drops just before the 2nd COMMIT.
    proxy.decide = _cut_after_copy('"ponte_staging"', 2, "cut")
    second = ok(_run_ledger(db, proxy.conninfo, 12_000))
    assert proxy.cuts == 2
    for run in (first, second):
        assert "connection to PostgreSQL lost" in run.stderr and "Traceback" not in run.stderr
        assert run.states[-1] == {"offset": 12_000}
    assert _ledger(db) == (12_000, 12_000, 1, 12_000)
    assert [(r["status"], r["rows_inserted"], r["rows_updated"], r["batches"]) for r in db.runs()] == [
        ("succeeded", 12_000, 0, 3), ("succeeded", 0, 12_000, 3)
    ]  # fmt: skip


def test_commit_whose_answer_was_lost_is_not_committed_twice(db: Database, proxy: PgProxy) -> None:
    ledger = f'"{db.schema}"."ledger"'
    # No key, so a batch committed twice would show as duplicated rows; the server commits the 2nd batch,
    # then every connection drops before the target hears back.
    proxy.decide = _cut_after_copy(ledger, 2, "cut_all_after_reply")
    first = ok(_run_ledger(db, proxy.conninfo, 12_000, load_method="append-only"))
    assert "that commit had landed" in first.stderr and "Traceback" not in first.stderr
    assert _ledger(db) == (12_000, 12_000, 1, 12_000)
    # With a key, merged through staging: a second merge would go unnoticed in the rows, not in the counts.
    db.conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(sql.Identifier(db.schema, "ledger")))
    proxy.decide = _cut_after_copy('"ponte_staging"', 2, "cut_after_reply")
    second = ok(_run_ledger(db, proxy.conninfo, 12_000))
    assert "that commit had landed" in second.stderr and second.states[-1] == {"offset": 12_000}
    assert _ledger(db) == (12_000, 12_000, 1, 12_000) and proxy.cuts == 2
    assert [(r["rows_inserted"], r["rows_updated"], r["batches"]) for r in db.runs()] == [
        (12_000, 0, 3),
        (0, 12_000, 3),
    ]


def test_database_that_stays_down_ends_the_load_with_one_clear_line(db: Database, proxy: PgProxy) -> None:
    proxy.decide = _cut_after_copy(f'"{db.schema}"."ledger"', 2, "cut_all", then="copy_data", down=proxy)
    failed = _run_ledger(db, proxy.conninfo, 12_000, reconnect_attempts=2)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 2, failed.stderr
    assert "could not record the failure in the run log" in errors[0]
    assert "stream 'ledger': lost the connection to PostgreSQL and could not get it back after 2 attempts" in errors[1]
    assert failed.states == [{"offset": 4000}, {"offset": 5000}]  # STATE never claims more than was committed
    assert _ledger(db) == (5000, 5000, 1, 5000)
    ok(_run_ledger(db, DSN, 12_000, start=5001))  # resuming from that STATE, straight to the server
    assert _ledger(db) == (12_000, 12_000, 1, 12_000)
    assert [(r["status"], r["rows_inserted"]) for r in db.runs()] == [("interrupted", 5000), ("succeeded", 7000)]


def test_a_database_it_cannot_reach_at_all_is_one_clear_line(db: Database, proxy: PgProxy) -> None:
    proxy.refuse_connections = True
    for extra in ({}, {"stream_maps": {"ledger": {"__alias__": "ledger"}}}):  # the loader alone, then the SDK's
        run = _run_ledger(db, proxy.conninfo, 10, **extra)
        assert run.returncode == 1 and "Traceback" not in run.stderr
        [error] = [line for line in run.stderr.splitlines() if "| ERROR" in line]
        assert "target-postgres: cannot connect to PostgreSQL (" in error and "check the connection settings" in error


def test_a_commit_in_doubt_is_settled_by_its_transaction_status(db: Database) -> None:
    with psycopg.connect(DSN) as checker:
        for outcome in ("committed", "rolled back", "still open"):
            session = psycopg.connect(DSN)  # the connection that sent COMMIT and lost the answer
            session.execute("CREATE TEMP TABLE doubt (x int)")
            xid = session.execute("SELECT txid_current()").fetchone()[0]
            if outcome == "committed":
                session.commit()
            elif outcome == "rolled back":
                session.rollback()
            # "still open": a session the server has not yet noticed is cut off; it is ended, then asked about
            assert commit_landed(checker, xid, session.info.backend_pid, "stream 'x'") is (outcome == "committed")
            if outcome == "still open":
                with pytest.raises(psycopg.OperationalError):
                    session.execute("SELECT 1")
            session.close()


# -- read-only role for BI tools -----------------------------------------------------------------------


def test_grant_readonly_role_can_select_and_cannot_write(db: Database) -> None:
    ok(db.run([schema("orders", ORDER), *_orders({1: "a"})]))
    role = f"bi_{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            [
                *PONTE,
                "db",
                "grant-readonly",
                role,
                "--schema",
                db.schema,
                "--password-env",
                "BI_PASSWORD",
                "--dsn",
                DSN,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "BI_PASSWORD": "s3cret-pass"},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        url = re.search(r"postgresql://\S+", result.stdout).group(0)
        assert url.startswith(f"postgresql://{role}:<password>@") and "s3cret" not in result.stdout
        ok(db.run([schema("later", ORDER), *_orders({1: "a"}, "later")]))  # created after the grant
        reader = psycopg.connect(url.replace("<password>", "s3cret-pass"), autocommit=True)
        with reader:
            assert reader.execute(
                sql.SQL("SELECT name FROM {}").format(sql.Identifier(db.schema, "orders"))
            ).fetchall() == [("a",)]
            assert reader.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(db.schema, "later"))
            ).fetchone() == (1,)
            for statement in (
                sql.SQL("INSERT INTO {} (id, name) VALUES (9, 'x')").format(sql.Identifier(db.schema, "orders")),
                sql.SQL("UPDATE {} SET name = 'x'").format(sql.Identifier(db.schema, "orders")),
                sql.SQL("DELETE FROM {}").format(sql.Identifier(db.schema, "orders")),
                sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(db.schema, "mine")),
            ):
                with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                    reader.execute(statement)
            reader.execute("SET default_transaction_read_only = off")  # even then, no write privilege
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(db.schema, "orders")))
        # The service's private tables in a granted schema stay unreadable, even those created after the grant.
        db.conn.execute(sql.SQL("CREATE TABLE {} (name text, password_hash text)").format(
            sql.Identifier(db.schema, "panel_users")))  # fmt: skip
        grant_again = [*PONTE, "db", "grant-readonly", role, "--schema", db.schema, "--dsn", DSN]
        assert subprocess.run(grant_again, capture_output=True, text=True, timeout=60, check=False).returncode == 0
        with psycopg.connect(url.replace("<password>", "s3cret-pass"), autocommit=True) as reader:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(db.schema, "panel_users")))
            assert reader.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(db.schema, "orders"))
            ).fetchone() == (1,)  # the loader's tables stay readable
        password_hash = "SELECT rolpassword FROM pg_authid WHERE rolname = %s"
        first_hash = db.conn.execute(password_hash, (role,)).fetchone()[0]
        assert first_hash and first_hash.startswith("SCRAM-SHA-256$")

        # Again, without --schema (every schema in the run log) and with a generated password.
        again = subprocess.run(
            [*PONTE, "db", "grant-readonly", role, "--generate-password", "--log-schema", db.schema, "--dsn", DSN],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert f"Role {role} updated: SELECT on every table of {db.schema};" in again.stdout
        url = re.search(r"postgresql://\S+", again.stdout).group(0)
        assert "<password>" not in url and db.conn.execute(password_hash, (role,)).fetchone()[0] != first_hash
        with psycopg.connect(url) as reader:
            assert reader.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(db.schema, "orders"))
            ).fetchone() == (1,)
    finally:
        db.conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(db.schema)))
        db.conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        db.conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# -- the Singer surface --------------------------------------------------------------------------------


def test_about_lists_settings_and_capabilities() -> None:
    about = json.loads(subprocess.run([*TARGET, "--about", "--format", "json"], capture_output=True, check=True).stdout)
    assert {"about", "stream-maps", "activate-version", "hard-delete", "target-schema"} <= set(about["capabilities"])
    settings = about["settings"]["properties"]
    assert settings["password"].get("secret") is True and settings["load_method"]["default"] == "upsert"
    assert {"host", "port", "user", "database", "dsn", "default_target_schema", "batch_size_rows",
            "batch_size_bytes", "hard_delete", "add_record_metadata", "pipeline_name", "validate_records",
            "reconnect_attempts", "reconnect_backoff_seconds"} <= set(settings)  # fmt: skip


def test_stream_maps_run_through_singer_sdk(db: Database) -> None:
    run = ok(db.run(
        [schema("orders", ORDER), *_orders({1: "a", 2: "b"})],
        stream_maps={"orders": {"__alias__": "pedidos", "name": "name.upper()", "__filter__": "record['id'] > 1"}},
    ))  # fmt: skip
    assert "Meltano SDK" in run.stderr
    assert db.rows("pedidos", "id, name") == [(2, "B")]


def test_input_option_reads_a_file(db: Database) -> None:
    path = db.tmp / "input.singer"
    path.write_bytes(lines([schema("orders", ORDER), *_orders({1: "a"}), state({"n": 1})]))
    result = subprocess.run(
        [*TARGET, "--config", db.config_file(), "--input", str(path)], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == {"n": 1}
    assert db.rows("orders", "id") == [(1,)]
