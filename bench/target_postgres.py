"""Benchmark: our target-postgres against a plain COPY of the same rows.

Generates one Singer stream of N records (15 fields: integers, numbers, booleans, dates, date-times, text with
tabs/quotes/backslashes, a nested object and an array of objects), then, in the same run and database:

  first load  — the target (a subprocess reading stdin) into an empty table,
                vs one plain `COPY … FROM STDIN` of the same rows (pre-rendered COPY text, in-process) into
                a copy of that table — the same 19 columns (15 fields + 4 _sdc_ metadata) with the same
                values — and, for reference, of the 15 source fields alone;
  upsert pass — the target again with the same stream (the table now holds every key),
                vs COPY into a temp staging table + `INSERT … ON CONFLICT DO UPDATE`, per batch of the same size.

The target's time is measured from the moment it is ready (it logs its version line, once Python has started
and imported the loader) to its exit; the startup before that is reported separately and also included in
an end-to-end ratio. Peak RSS is the target process's high-water mark (VmHWM). Medians of --runs runs.

    .venv/bin/python bench/target_postgres.py [--rows 200000] [--runs 3] [--feed file|pipe]
                                              [--dsn "host=127.0.0.1 user=postgres dbname=postgres"]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ponte.targets.postgres.values import to_json_text

STREAM = "customers"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string"},
        "name": {"type": "string", "description": "Razão social"},
        "email": {"type": ["string", "null"]},
        "active": {"type": "boolean"},
        "balance": {"type": "number"},
        "creditLimit": {"type": ["number", "null"]},
        "quantity": {"type": "integer"},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": ["string", "null"], "format": "date-time"},
        "birthDate": {"type": ["string", "null"], "format": "date"},
        "city": {"type": "string"},
        "notes": {"type": ["string", "null"]},
        "address": {"type": "object", "properties": {"street": {"type": "string"}, "number": {"type": "integer"}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    },
}
FIELDS = list(SCHEMA["properties"])
JSON_FIELDS = {"address", "items"}
EXTRACTED = "2026-06-01T12:00:00+00:00"
VERSION = 1


def make_record(i: int, rng: random.Random) -> dict[str, Any]:
    """One customer-like record; deterministic for a given seed."""
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return {
        "id": i,
        "code": f"C{i:08d}",
        "name": f"Cliente {rng.randint(0, 10**6)} Comércio Ltda",
        "email": f"user{i}@exemplo.com.br" if i % 7 else None,
        "active": rng.random() < 0.8,
        "balance": round(rng.uniform(-1e4, 1e5), 2),
        "creditLimit": round(rng.uniform(0, 1e5), 2),
        "quantity": rng.randint(0, 1000),
        "createdAt": (base + dt.timedelta(seconds=rng.randint(0, 10**8))).isoformat().replace("+00:00", "Z"),
        "updatedAt": (base + dt.timedelta(seconds=rng.randint(0, 10**8))).isoformat(),
        "birthDate": (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000))).isoformat(),
        "city": rng.choice(["São Paulo", "Curitiba", "Recife", "Porto Alegre", "Belo Horizonte"]),
        "notes": 'Observação:\tcliente com "aspas" e barra \\ ' * rng.randint(0, 3) or None,
        "address": {"street": "Rua das Flores", "number": rng.randint(1, 9999), "city": "Curitiba", "zip": "80000-000"},
        "items": [
            {"sku": f"SKU{rng.randint(0, 999)}", "qty": rng.randint(1, 10), "price": round(rng.uniform(1, 500), 2)}
            for _ in range(rng.randint(0, 4))
        ],
    }


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = "true" if value is True else "false" if value is False else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def generate(rows: int, folder: Path) -> tuple[Path, bytes, bytes]:
    """Write the Singer file; return it with the same rows pre-rendered as COPY text (untimed): every
    column the target writes, and the 15 source fields alone."""
    rng = random.Random(20260601)
    singer, copy_lines, source_lines = folder / "stream.singer", [], []
    received = "2026-06-01T12:00:01+00:00"
    with singer.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": ["id"]}) + "\n")
        for i in range(1, rows + 1):
            record = make_record(i, rng)
            message = {
                "type": "RECORD",
                "stream": STREAM,
                "record": record,
                "version": VERSION,
                "time_extracted": EXTRACTED,
            }
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
            values = [to_json_text(record[f]) if f in JSON_FIELDS else record[f] for f in FIELDS]
            copy_lines.append("\t".join(map(_copy_text, [*values, EXTRACTED, received, None, VERSION])))
            source_lines.append("\t".join(map(_copy_text, values)))
            if i % 10_000 == 0:
                out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"rows": i}}}}) + "\n")
    return singer, ("\n".join(copy_lines) + "\n").encode("utf-8"), ("\n".join(source_lines) + "\n").encode("utf-8")


def run_target(singer: Path, config: Path, feed: str) -> dict[str, float]:
    """Run the target as a subprocess reading the stream on stdin; returns startup, load and total seconds
    and peak RSS. `feed="file"` redirects stdin from the file (`target-postgres < stream.singer`);
    `feed="pipe"` writes it through a pipe once the target is ready, as a tap would."""
    started = time.perf_counter()
    source = singer.open("rb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ponte.targets.postgres.target", "--config", str(config)],
        stdin=source if feed == "file" else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ready, ready_at, stderr_lines, stdout_lines = threading.Event(), [started], [], []

    def read_stderr() -> None:
        for raw in process.stderr:
            stderr_lines.append(raw.decode("utf-8", "replace"))
            if b"target-postgres v" in raw and not ready.is_set():
                ready_at[0] = time.perf_counter()  # logged right before the first line is read
                ready.set()
        ready.set()

    peak_kb = [0]

    def watch_rss() -> None:
        # wait4's ru_maxrss would count the bench's own memory (the child starts as its fork), so read the
        # child's high-water mark (VmHWM, reset at exec) from /proc until it exits.
        status = Path(f"/proc/{process.pid}/status")
        while process.returncode is None:
            try:
                for field in status.read_text().splitlines():
                    if field.startswith("VmHWM:"):
                        peak_kb[0] = max(peak_kb[0], int(field.split()[1]))
            except (OSError, ValueError, IndexError):
                return
            time.sleep(0.02)

    threads = [
        threading.Thread(target=read_stderr, daemon=True),
        threading.Thread(target=lambda: stdout_lines.extend(process.stdout), daemon=True),
        threading.Thread(target=watch_rss, daemon=True),
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    if feed == "pipe":
        shutil.copyfileobj(source, process.stdin, 1 << 20)
        process.stdin.close()
    process.wait()
    finished = time.perf_counter()
    source.close()
    for thread in threads:
        thread.join()
    if process.returncode != 0:
        sys.exit(f"target-postgres failed ({process.returncode}):\n{''.join(stderr_lines[-30:])}")
    last_state = json.loads(stdout_lines[-1]) if stdout_lines else None
    assert last_state and last_state["bookmarks"][STREAM]["rows"] > 0, "the target emitted no final STATE"
    return {
        "startup": ready_at[0] - started,
        "load": finished - ready_at[0],
        "total": finished - started,
        "rss_mb": peak_kb[0] / 1024,
    }


def plain_copy(conn: psycopg.Connection, table: sql.Identifier, columns: list[str], data: bytes) -> float:
    """One COPY of every row in one transaction."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
    started = time.perf_counter()
    with conn.transaction(), conn.cursor().copy(statement) as copy:
        for offset in range(0, len(data), 1 << 20):
            copy.write(data[offset : offset + (1 << 20)])
    return time.perf_counter() - started


def copy_and_merge(
    conn: psycopg.Connection, table: sql.Identifier, columns: list[str], data: bytes, batch_rows: int
) -> float:
    """Per batch: COPY into a temp staging table, INSERT … ON CONFLICT DO UPDATE, commit."""
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c != "id")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE bench_staging ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA").format(
            cols, table
        )
    )
    conn.commit()
    lines = data.splitlines(keepends=True)
    batches = [b"".join(lines[i : i + batch_rows]) for i in range(0, len(lines), batch_rows)]
    upsert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM bench_staging ON CONFLICT (id) DO UPDATE SET {}").format(
        table, cols, cols, updates
    )
    started = time.perf_counter()
    for batch in batches:
        with conn.cursor().copy(sql.SQL("COPY bench_staging ({}) FROM STDIN").format(cols)) as copy:
            copy.write(batch)
        conn.execute(upsert)
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE bench_staging")
    conn.commit()
    return elapsed


def checkpoint(conn: psycopg.Connection) -> None:
    """Start each timed step with a clean WAL so checkpoints do not land on one side only."""
    try:
        conn.execute("CHECKPOINT")
        conn.commit()
    except psycopg.Error:
        conn.rollback()


def one_run(
    dsn: str, singer: Path, data: bytes, source_data: bytes, rows: int, batch_rows: int, folder: Path, feed: str
) -> dict[str, Any]:
    """Both loads and both upserts in a fresh schema, dropped afterwards."""
    schema = f"bench_target_{os.getpid()}"
    conn = psycopg.connect(dsn)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.commit()
    config = folder / "config.json"
    config.write_text(
        json.dumps({"dsn": dsn, "default_target_schema": schema, "batch_size_rows": batch_rows, "log_schema": schema})
    )
    target_table, baseline_table = sql.Identifier(schema, STREAM), sql.Identifier(schema, "baseline")
    result: dict[str, Any] = {}
    try:
        checkpoint(conn)
        result["target_load"] = run_target(singer, config, feed)
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                "ORDER BY attnum",
                (f"{schema}.{STREAM}",),
            ).fetchall()
        ]
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(baseline_table, target_table))
        conn.commit()
        checkpoint(conn)
        result["copy_load"] = plain_copy(conn, baseline_table, columns, data)
        source_table, source_columns = sql.Identifier(schema, "baseline_source"), columns[: len(FIELDS)]
        conn.execute(
            sql.SQL("CREATE TABLE {} AS SELECT {} FROM {} WITH NO DATA; ALTER TABLE {} ADD PRIMARY KEY (id)").format(
                source_table, sql.SQL(", ").join(map(sql.Identifier, source_columns)), target_table, source_table
            )
        )
        conn.commit()
        checkpoint(conn)
        result["copy_source_load"] = plain_copy(conn, source_table, source_columns, source_data)
        checkpoint(conn)
        result["target_upsert"] = run_target(singer, config, feed)
        checkpoint(conn)
        result["copy_upsert"] = copy_and_merge(conn, baseline_table, columns, data, batch_rows)
        for table in (target_table, baseline_table):
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
            assert count == rows, f"{table.as_string(conn)} has {count} rows, expected {rows}"
    finally:
        conn.rollback()
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.commit()
        conn.close()
    return result


def main() -> None:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument(
        "--feed",
        choices=["file", "pipe"],
        default="file",
        help="stdin redirected from the stream file (default), or written through a pipe by this process",
    )
    parser.add_argument(
        "--dsn", default=os.environ.get("PONTE_BENCH_DSN", "host=127.0.0.1 user=postgres dbname=postgres")
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ponte-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        singer, data, source_data = generate(args.rows, folder)
        print(
            f"generated {args.rows:,} records ({singer.stat().st_size / 1e6:.0f} MB of Singer JSON, "
            f"{len(data) / 1e6:.0f} MB of COPY text) in {time.perf_counter() - started:.1f} s"
        )
        runs = [
            one_run(args.dsn, singer, data, source_data, args.rows, args.batch_rows, folder, args.feed)
            for _ in range(args.runs)
        ]
    report(runs, args.rows, args.feed)


def report(runs: list[dict[str, Any]], rows: int, feed: str) -> None:
    """Medians of every figure, as a table."""

    def median(key: str, field: str | None = None) -> float:
        return statistics.median(r[key][field] if field else r[key] for r in runs)

    startup = median("target_load", "startup")
    lines = [
        ("first load", "target-postgres (load)", median("target_load", "load"), median("target_load", "rss_mb")),
        ("first load", "target-postgres (incl. startup)", median("target_load", "total"), None),
        ("first load", "plain COPY (same 19 columns)", median("copy_load"), None),
        ("first load", "plain COPY (15 source fields)", median("copy_source_load"), None),
        ("upsert pass", "target-postgres (load)", median("target_upsert", "load"), median("target_upsert", "rss_mb")),
        ("upsert pass", "target-postgres (incl. startup)", median("target_upsert", "total"), None),
        ("upsert pass", "COPY to staging + ON CONFLICT", median("copy_upsert"), None),
    ]
    print(
        f"\n{rows:,} records, median of {len(runs)} run(s), stdin fed from a {feed}; "
        f"target startup (Python + imports) {startup:.2f} s\n"
    )
    print(f"{'pass':<12} {'loader':<32} {'seconds':>8} {'rows/s':>10} {'peak RSS':>9}")
    for phase, loader, seconds, rss in lines:
        rss_text = f"{rss:.0f} MB" if rss else ""
        print(f"{phase:<12} {loader:<32} {seconds:>8.2f} {rows / seconds:>10,.0f} {rss_text:>9}")
    load_ratio = median("copy_load") / median("target_load", "load")
    upsert_ratio = median("copy_upsert") / median("target_upsert", "load")
    print(
        f"\nratio (target speed / baseline speed):\n"
        f"  first load : {load_ratio:.2f}x  (incl. startup {median('copy_load') / median('target_load', 'total'):.2f}x;"
        f" vs the 15 source fields only {median('copy_source_load') / median('target_load', 'load'):.2f}x)"
        f"   goal >= 0.8x\n"
        f"  upsert pass: {upsert_ratio:.2f}x  (incl. startup {median('copy_upsert') / median('target_upsert', 'total'):.2f}x)"
        f"   goal >= 0.6x\n"
        f"  peak RSS   : {max(median('target_load', 'rss_mb'), median('target_upsert', 'rss_mb')):.0f} MB   goal < 100 MB"
    )


if __name__ == "__main__":
    main()
