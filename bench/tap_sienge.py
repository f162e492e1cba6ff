"""Benchmark: tap-sienge records/second and peak memory against a big Sienge sandbox with no rate limit.

    .venv/bin/python bench/tap_sienge.py [--records 100000] [--runs 3] [--page-size 200]

Starts `ponte sandbox sienge --records N --rate-limit 0`, runs the `tap-sienge` console script with only the
`customers` stream selected (the one that scales with N), counts the RECORD lines it writes, and prints the
median wall time, records/s and the tap process's peak RSS (from wait4, so the sandbox is not counted).
The baseline in the same run is the sandbox alone: the same pages fetched by a bare `requests` loop, i.e.
the speed the server allows. The ratio tells how much the tap costs on top of fetching.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from ponte.testing import SandboxProcess, console_script, select_only

CREDENTIALS = {"subdomain": "demo", "username": "demo-api", "password": "demo-secret"}


def run_tap_once(sandbox: SandboxProcess, folder: Path, page_size: int) -> tuple[float, int, float]:
    """One tap run: (seconds, records, peak RSS MiB)."""
    # the sandbox has no rate limit here, so the client-side budget is switched off too (0 = none)
    config = {**CREDENTIALS, "base_url": sandbox.base_url, "state_dir": str(folder / "state"), "rate_limit_requests": 0}
    (folder / "config.json").write_text(json.dumps(config))
    discover = subprocess.run(
        [console_script("tap-sienge"), "--config", str(folder / "config.json"), "--discover"],
        capture_output=True,
        check=True,
    )
    catalog = select_only(json.loads(discover.stdout), {"customers"})
    (folder / "catalog.json").write_text(json.dumps(catalog))
    command = [
        console_script("tap-sienge"),
        "--config",
        str(folder / "config.json"),
        "--catalog",
        str(folder / "catalog.json"),
    ]
    env = {**os.environ, "TAP_SIENGE_LOG_LEVEL": "WARNING"}
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    records = 0
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"'):
            records += 1
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    if status != 0:
        raise SystemExit(f"tap-sienge failed with status {status}")
    return seconds, records, usage.ru_maxrss / 1024


def fetch_baseline(sandbox: SandboxProcess, page_size: int) -> tuple[float, int]:
    """The same pages with a bare requests loop: what the sandbox itself allows."""
    session = requests.Session()
    session.auth = (CREDENTIALS["username"], CREDENTIALS["password"])
    began = time.perf_counter()
    offset = total = 0
    while True:
        body = session.get(f"{sandbox.base_url}/customers", params={"limit": page_size, "offset": offset}).json()
        rows = body["results"]
        total += len(rows)
        offset += len(rows)
        if not rows or offset >= body["resultSetMetadata"]["count"]:
            break
    return time.perf_counter() - began, total


def main() -> None:
    """Parse arguments, run the benchmark, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=200)
    options = parser.parse_args()

    with SandboxProcess.start("sienge", "--records", str(options.records), "--rate-limit", "0") as sandbox:
        baselines = [fetch_baseline(sandbox, options.page_size) for _ in range(options.runs)]
        runs = []
        for _ in range(options.runs):
            with tempfile.TemporaryDirectory() as folder:
                runs.append(run_tap_once(sandbox, Path(folder), options.page_size))

    base_seconds = statistics.median(s for s, _ in baselines)
    tap_seconds = statistics.median(s for s, _, _ in runs)
    records = runs[0][1]
    peak = max(r for _, _, r in runs)
    print(f"tap-sienge benchmark: customers stream, {options.records} sandbox records, {options.runs} runs (median)")
    print(f"{'what':<34}{'records':>10}{'seconds':>10}{'records/s':>12}{'peak RSS MiB':>14}")
    print(
        f"{'bare requests loop (baseline)':<34}{baselines[0][1]:>10}{base_seconds:>10.2f}{baselines[0][1] / base_seconds:>12.0f}{'-':>14}"
    )
    print(
        f"{'tap-sienge (msgspec writer)':<34}{records:>10}{tap_seconds:>10.2f}{records / tap_seconds:>12.0f}{peak:>14.1f}"
    )
    print(f"tap / baseline speed ratio: {base_seconds / tap_seconds:.2f}")
    if records != options.records:
        print(f"WARNING: expected {options.records} records, got {records}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
