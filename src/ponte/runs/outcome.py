"""How a pipeline run ended, from Meltano's exit code, its log and what the plugins reported.

failed        any plugin (or Meltano itself) exited non-zero, or `ponte run` was stopped by a signal; when a
              plugin stopped because an API's circuit breaker opened, its line is the error and the exit
              code is 69 (CircuitOpen), whatever Meltano exited with
stopped-quota a tap stopped cleanly on a spent daily quota (it exits 0; the next run resumes)
partial       everything ran, but records were dead-lettered (by a target or the mapper)
succeeded     everything else
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ponte.core.errors import CircuitOpen
from ponte.runlog import report
from ponte.runs.meltano_log import MELTANO, MeltanoLog

STATUSES = ("running", "succeeded", "failed", "partial", "stopped-quota")
TRIGGERS = ("manual", "schedule", "webhook", "catch-up")
COUNTS = ("inserted", "updated", "deleted", "rejected")


@dataclass
class Outcome:
    """What the run record and the user are told at the end."""

    status: str
    exit_code: int
    failed_plugin: str | None = None
    error: str | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: int = 0
    quota_stops: list[str] = field(default_factory=list)


def streams_of(facts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The targets' final per-stream rows (the same counts they wrote to sync_runs), in the order they closed."""
    rows = []
    for fact in facts:
        if fact.get("event") != report.STREAM_FINISHED:
            continue
        row = {"plugin": fact.get("plugin"), "stream": fact.get("stream"), "status": fact.get("status")}
        row.update({name: int(fact.get(name) or 0) for name in COUNTS})
        if fact.get("error"):
            row["error"] = fact["error"]
        rows.append(row)
    return rows


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def decide(meltano_exit: int, log: MeltanoLog, facts: list[dict[str, Any]], stopped_by: int | None = None) -> Outcome:
    """Classify one finished run (see the module docstring for the order of the rules)."""
    streams = streams_of(facts)
    dead = sum(int(f.get("count") or 0) for f in facts if f.get("event") == report.DEAD_LETTERS)
    quota = [str(f.get("message") or "") for f in facts if f.get("event") == report.STOPPED_QUOTA]
    circuit = next((f for f in facts if f.get("event") == report.CIRCUIT_OPEN), None)
    failing = log.failing()
    if meltano_exit != 0 or failing is not None or stopped_by is not None:
        if failing is not None:
            plugin = failing.name
            error = failing.error or f"{plugin} exited with code {failing.exit_code} without printing an error"
        else:
            plugin = MELTANO
            error = next(iter(log.meltano_errors), None) or f"meltano exited with code {meltano_exit}"
        if stopped_by is not None:
            error = f"ponte run was stopped by {_signal_name(stopped_by)} before the pipeline finished ({error})"
        code = meltano_exit or (128 + stopped_by if stopped_by else 1)
        if circuit is not None and stopped_by is None:  # the API is down: say which and when to retry
            plugin = str(circuit.get("plugin") or plugin)
            error, code = str(circuit.get("message") or error), CircuitOpen.exit_code
        return Outcome("failed", code, plugin, error, streams, dead, quota)
    if quota:
        return Outcome("stopped-quota", 0, None, None, streams, dead, quota)
    if dead or any(row["rejected"] for row in streams):
        return Outcome("partial", 0, None, None, streams, dead, quota)
    return Outcome("succeeded", 0, None, None, streams, dead, quota)
