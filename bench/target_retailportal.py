"""Benchmark: 5,000 products into the RetailPortal sandbox with target-retailportal, against the ideal.

    .venv/bin/python bench/target_retailportal.py [--products 5000] [--parallel 3] [--time-scale 10]

The sandbox processes each job at RetailPortal's documented ~4 items/s (seed §9.1: 3-5 items/s), at most 5 jobs
at once, 100 requests/min per key counting the polls. `--time-scale N` runs the sandbox's job clock N times
faster than real time (1 = real time: the run then takes about 7 minutes). The ideal for P parallel jobs is the
time to process every item with P jobs always busy: products / (P * items/s). The report gives the wall time,
the ideal, their ratio, how busy the P slots were, the requests (submits + polls) and any 429s, and the
target's peak RSS — all in real seconds and in sandbox seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from ponte.testing import SandboxProcess, console_script

ITEMS_PER_SECOND = 4.0


def singer_input(path: Path, products: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"type": "SCHEMA", "stream": "products", "schema": {"type": "object"},
                              "key_properties": ["erpId"]}) + "\n")  # fmt: skip
        for n in range(1, products + 1):
            record = {"erpId": 100000 + n, "description": f"Produto {n}", "sku": f"SKU-{n:05d}",
                      "price": round(5 + n % 97 * 1.25, 2), "stock": n % 40, "active": True,
                      "updatedAt": "2026-11-20T08:30:00-03:00"}  # fmt: skip
            out.write(json.dumps({"type": "RECORD", "stream": "products", "record": record}) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {"produtos": {"n": products}}}}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--time-scale", type=float, default=10.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ponte-bench-rp-"))
    singer_input(folder / "input.jsonl", args.products)
    # Time runs `time_scale` times faster in the sandbox, so the per-minute request budget (polls included) is
    # scaled the same way on both sides: the run sees RetailPortal's 100 requests per (sandbox) minute.
    budget = int(100 * args.time_scale)
    switches = ("--set", f"time_scale={args.time_scale}", "--set", f"items_per_second={ITEMS_PER_SECOND}",
                "--set", f"rate_limit={budget}")  # fmt: skip
    with SandboxProcess.start("retailportal", *switches) as sandbox:
        config = {
            "api_key": "rp_sandbox_key",
            "base_url": sandbox.base_url,
            "parallel_jobs": args.parallel,
            "batch_size": args.batch_size,
            "poll_seconds": 5 / args.time_scale,
            "rate_limit_requests": budget,
            "dead_letter_path": str(folder / "dead_letters.jsonl"),
            "job_log_path": str(folder / "jobs.jsonl"),
        }
        (folder / "config.json").write_text(json.dumps(config))
        command = [console_script("target-retailportal"), "--config", str(folder / "config.json"),
                   "--input", str(folder / "input.jsonl")]  # fmt: skip
        started = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if run.returncode != 0:
            raise SystemExit(f"target-retailportal failed ({run.returncode}):\n{run.stderr[-3000:]}")
        jobs = requests.get(f"{sandbox.url}/_sandbox/retailportal/jobs", timeout=10).json()
        info = requests.get(f"{sandbox.url}/_sandbox/retailportal/info", timeout=10).json()
        stats = sandbox.stats()
    jobs = jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
    ideal = args.products / (args.parallel * ITEMS_PER_SECOND * args.time_scale)
    busy = sum(j["totalItems"] for j in jobs) / (ITEMS_PER_SECOND * args.time_scale)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sizes = sorted({j["totalItems"] for j in jobs})
    print(
        f"target-retailportal: {args.products} products, {len(jobs)} jobs of {sizes} items, {args.parallel} in flight"
    )
    print(f"sandbox: {ITEMS_PER_SECOND:g} items/s per job, time scale {args.time_scale:g}x; products stored: "
          f"{info.get('products', info)}")  # fmt: skip
    print(f"wall time      {wall:8.1f} s real   = {wall * args.time_scale:8.1f} s at RetailPortal's speed")
    print(
        f"ideal ({args.parallel} jobs)  {ideal:8.1f} s real   = {ideal * args.time_scale:8.1f} s at RetailPortal's speed"
    )
    print(f"wall / ideal   {wall / ideal:8.2f}x   (slots busy {busy / (args.parallel * wall):.0%} of the wall time)")
    print(f"requests       {stats.get('requests', '?')} (submits + polls), 429 answers: {stats.get('rate_limited', 0)}")
    print(f"peak RSS       {peak:8.1f} MiB (target process)")


if __name__ == "__main__":
    main()
