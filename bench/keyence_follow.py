"""Benchmark: KEYENCE lines → PostgreSQL lag in follow mode, and tap-keyence's throughput on a big backlog.

    .venv/bin/python bench/keyence_follow.py [--seconds 60] [--rate 4] [--big-lines 500000] [--poll 0.5] [--flush 1]

1. Lag: `ponte follow keyence` (tap-keyence polling every --poll s → target-postgres committing at most every --flush
   s) while the gateway simulator appends --rate lines per second to one file for --seconds. For each line, the
   time from the write of its newline to the moment its row is visible in PostgreSQL (the database is polled every
   20 ms). Prints p50 / p95 / max. The pipeline's own start (about 3 s, mostly importing singer-sdk) is excluded:
   lines are written once it is up.
2. Throughput: tap-keyence (one-shot) on one file of --big-lines lines, stdout to /dev/null. Prints records/s
   over the whole run and without the process start (measured on an empty folder).

Needs the local PostgreSQL (PONTE_PG_DSN, default host=127.0.0.1 user=postgres dbname=postgres); the tables go
to a schema of their own, dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from ponte.sandbox.keyence.gateway import DEFAULT_START, GatewaySimulator
from ponte.testing import console_script

DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_lag(folder: Path, seconds: float, rate: float, poll: float, flush: float) -> list[float]:
    schema = f"bench_keyence_{uuid.uuid4().hex[:8]}"
    gateway = folder / "gw"
    sim = GatewaySimulator(gateway, lines=1, sensors=2, rotate_hourly=False)
    (folder / "tap.json").write_text(json.dumps({"folder": str(gateway)}))
    target = {"dsn": DSN, "default_target_schema": schema, "log_schema": f"{schema}_log"}
    (folder / "target.json").write_text(json.dumps(target))
    command = [
        console_script("ponte"),
        "follow",
        "keyence",
        "--tap-config",
        str(folder / "tap.json"),
        "--target-config",
        str(folder / "target.json"),
        "--poll-seconds",
        str(poll),
        "--flush-seconds",
        str(flush),
    ]
    log = (folder / "follow.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=log)
    written: dict[int, float] = {}
    seen: dict[int, float] = {}
    try:
        with psycopg.connect(DSN, autocommit=True) as conn:
            state_sql = f'SELECT count(*) FROM "{schema}_log".follow_state'
            deadline = time.monotonic() + 60
            while True:  # up once the target has echoed the tap's first STATE
                try:
                    if conn.execute(state_sql).fetchone()[0]:
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"ponte follow did not start; see {folder / 'follow.log'}")
                time.sleep(0.05)
            interval, began, ticks = 1.0 / rate, time.monotonic(), int(seconds * rate)
            rows_sql = f'SELECT _file_offset FROM "{schema}".leituras WHERE _file_offset > %s'
            last = -1
            while len(seen) < ticks:
                now = time.monotonic()
                if len(written) < ticks and now >= began + len(written) * interval:
                    for line in sim.step(dt.datetime.now(dt.UTC)):
                        written[line.offset] = time.monotonic()
                for (offset,) in conn.execute(rows_sql, (last,)).fetchall():
                    seen.setdefault(offset, time.monotonic())
                    last = max(last, offset)
                if now > began + seconds + 30:
                    raise SystemExit(f"rows missing after {seconds + 30:.0f}s; see {folder / 'follow.log'}")
                time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
        sim.close()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_log" CASCADE')
    if code != 0:
        raise SystemExit(f"ponte follow exited with {code}; see {folder / 'follow.log'}")
    return [seen[offset] - written[offset] for offset in written]


def measure_throughput(folder: Path, lines: int) -> tuple[float, float, int, int]:
    """(seconds for the big file, seconds for an empty folder, records, bytes) of one-shot tap-keyence runs."""
    big, empty = folder / "big", folder / "empty"
    empty.mkdir()
    sim = GatewaySimulator(big, lines=1, sensors=4, rotate_hourly=False)
    block = 50_000
    moment = DEFAULT_START
    for _ in range(min(lines, block)):
        sim.step(moment)
        moment += dt.timedelta(seconds=0.25)
    sim.close()
    path = sim.path(sim.production_lines[0])
    chunk = path.read_bytes()
    with path.open("ab") as handle:  # repeat the block: same parsing work per line, no time spent generating
        for _ in range(lines // block - 1):
            handle.write(chunk)
    total = sum(1 for _ in path.open("rb"))
    timings = []
    for source in (big, empty):
        (folder / "config.json").write_text(json.dumps({"folder": str(source)}))
        began = time.perf_counter()
        subprocess.run(
            [console_script("tap-keyence"), "--config", str(folder / "config.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        timings.append(time.perf_counter() - began)
    return timings[0], timings[1], total, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long lines are written in follow mode")
    parser.add_argument("--rate", type=float, default=4, help="lines per second written by the gateway")
    parser.add_argument("--poll", type=float, default=0.5, help="tap-keyence poll_interval_seconds")
    parser.add_argument("--flush", type=float, default=1.0, help="ponte follow --flush-seconds")
    parser.add_argument("--big-lines", type=int, default=500_000, help="lines in the big file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-keyence-") as tmp:
        folder = Path(tmp)
        lags = measure_lag(folder / "lag", args.seconds, args.rate, args.poll, args.flush) if args.seconds else []
        if lags:
            print(
                f"follow lag (line written → row in PostgreSQL), {len(lags)} lines at {args.rate:g}/s, "
                f"poll {args.poll:g}s, flush {args.flush:g}s: p50 {statistics.median(lags):.2f}s  "
                f"p95 {percentile(lags, 0.95):.2f}s  max {max(lags):.2f}s"
            )
        if args.big_lines:
            (folder / "tap").mkdir()
            seconds, startup, records, size = measure_throughput(folder / "tap", args.big_lines)
            print(
                f"tap-keyence on one file of {records:,} lines ({size / 2**20:.0f} MiB; one-shot, stdout to "
                f"/dev/null): {seconds:.1f}s → {records / seconds:,.0f} records/s; "
                f"without the {startup:.1f}s process start: {records / max(seconds - startup, 1e-9):,.0f} records/s"
            )


if __name__ == "__main__":
    main()
