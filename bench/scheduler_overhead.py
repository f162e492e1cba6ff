"""Benchmark: what the scheduler of `ponte serve` costs — how late a run starts after its time, and the service's
CPU and memory — for 1, 10 and 50 schedules firing every second.

    .venv/bin/python bench/scheduler_overhead.py [--seconds 20] [--schedules 1,10,50]

Each case starts `ponte serve` (a process, as deployed) on a project of N jobs, each scheduled `* * * * * *`, whose
runs are a stand-in for `ponte run` (PONTE_SERVE_RUN_COMMAND: a Python one-liner that logs its start time and
exits), so the figures are the scheduler's, not Meltano's (a real `ponte run` adds Meltano's own start, 2-6 s).
Lateness: the run's start minus its nominal whole second (claim in the database, advisory lock, process spawn).
CPU: the service's user+system seconds per wall second after start-up (from /proc). Needs the local PostgreSQL
(PONTE_PG_DSN); each case uses a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from ponte.core.console_scripts import console_script

DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
FAKE_RUN = "import os, sys, time; open(os.environ['BENCH_LOG'], 'a').write(f'{time.time():.6f}\\n')"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def case(schedules: int, seconds: float, folder: Path) -> dict[str, float]:
    jobs = "".join(f"  - name: job-{n}\n    tasks: [noop:go]\n" for n in range(schedules))
    lines = "".join(
        f'  - name: every-second-{n}\n    interval: "* * * * * *"\n    job: job-{n}\n' for n in range(schedules)
    )
    (folder / "meltano.yml").write_text(
        "version: 1\nplugins:\n  utilities:\n    - name: noop\n      namespace: noop\n      executable: /bin/true\n"
        f"      commands:\n        go:\n          args: ''\njobs:\n{jobs}schedules:\n{lines}"
    )
    log = folder / "starts.log"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}, "PONTE_DB_DSN": DSN,
           "PONTE_DB_SCHEMA": schema, "PONTE_SERVE_BIND": "127.0.0.1:0", "BENCH_LOG": str(log),
           "MELTANO_DATABASE_URI": f"sqlite:///{folder}/meltano.db",
           "PONTE_SERVE_RUN_COMMAND": f"{sys.executable} -c \"{FAKE_RUN}\""}  # fmt: skip
    port_file = folder / "port"
    with (folder / "serve.log").open("wb") as out:
        process = subprocess.Popen([console_script("ponte"), "serve", "--project", str(folder), "--port-file",
                                    str(port_file)], env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((folder / "serve.log").read_text())
            time.sleep(0.05)
        cpu0, wall0 = cpu_seconds(process.pid), time.monotonic()
        first = time.time()
        time.sleep(seconds)  # the measured period itself
        cpu = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - wall0)
        rss = peak_rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    starts = [float(x) for x in log.read_text().split()] if log.exists() else []
    late = [(t - math.floor(t)) * 1000 for t in starts if t >= first + 1]
    return {"schedules": schedules, "runs": len(late), "runs_per_s": len(late) / seconds,
            "late_p50_ms": statistics.median(late) if late else float("nan"), "late_p95_ms": percentile(late, 0.95),
            "cpu_share": cpu, "peak_rss_mb": rss}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--schedules", default="1,10,50")
    args = parser.parse_args()
    rows = []
    for count in (int(n) for n in args.schedules.split(",")):
        with tempfile.TemporaryDirectory(prefix="ponte-bench-serve-") as folder:
            rows.append(case(count, args.seconds, Path(folder)))
    base = rows[0]["cpu_share"] or float("nan")
    print(f"{'schedules':>9} {'wall s':>7} {'runs':>6} {'runs/s':>7} {'late p50 ms':>12} {'late p95 ms':>12} "
          f"{'CPU share':>10} {'peak RSS MB':>12} {'CPU vs 1st':>11}")  # fmt: skip
    for row in rows:
        print(f"{row['schedules']:>9} {args.seconds:>7.0f} {row['runs']:>6} {row['runs_per_s']:>7.1f} "
              f"{row['late_p50_ms']:>12.0f} {row['late_p95_ms']:>12.0f} {row['cpu_share']:>10.3f} "
              f"{row['peak_rss_mb']:>12.0f} {row['cpu_share'] / base:>11.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
