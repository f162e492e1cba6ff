"""What Ponte's plugins tell the `ponte run` that started them: facts a log line cannot carry reliably.

`ponte run` makes one run id and hands it to every plugin of the pipeline through the environment (Meltano
passes its own environment on): `PONTE_RUN_ID`, which the targets' run-log rows, dead letters and job log
carry, and `PONTE_RUN_REPORT`, a JSON Lines file each plugin appends facts to — a tap stopped cleanly on a
spent daily quota (it exits 0, so its exit code cannot say so), a target's final counts per stream, records
dead-lettered, an API whose circuit breaker opened (which API, until when). Outside `ponte run` (a bare `meltano run`, a plugin run by hand) both are unset: the run id is
a fresh one and reporting does nothing.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ponte.core.private_files import append_lines

RUN_ID_ENV = "PONTE_RUN_ID"
REPORT_ENV = "PONTE_RUN_REPORT"
TRIGGER_ENV = "PONTE_RUN_TRIGGER"  # what started the run (manual, schedule, webhook, catch-up), for history rows
PROGRESS_ENV = "PONTE_PROGRESS_SECONDS"  # how often taps log record counts and `ponte run` shows progress
PROGRESS_SECONDS = 5.0
TOTAL_TAG = "total"  # the record_count metric's tag holding the records a listing announced (ponte.tap.progress)

STOPPED_QUOTA = "stopped_quota"
CIRCUIT_OPEN = "circuit_open"  # a plugin stopped because an API's circuit breaker opened (exit code 69)
STREAM_FINISHED = "stream_finished"
DEAD_LETTERS = "dead_letters"

logger = logging.getLogger(__name__)


def launcher_run_id(env: Mapping[str, str] | None = None) -> uuid.UUID | None:
    """The run id `ponte run` gave this process, or None when it was not started by `ponte run`."""
    value = (os.environ if env is None else env).get(RUN_ID_ENV, "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        logger.warning("%s=%r is not a UUID; this process uses a run id of its own", RUN_ID_ENV, value)
        return None


def launcher_trigger(env: Mapping[str, str] | None = None) -> str:
    """What started this run according to `ponte run` (`manual` when the process was started by hand)."""
    return (os.environ if env is None else env).get(TRIGGER_ENV, "").strip() or "manual"


def this_run_id() -> uuid.UUID:
    """The pipeline run's id when launched by `ponte run` (so every plugin's records share it), else a new one."""
    return launcher_run_id() or uuid.uuid4()


def progress_seconds(env: Mapping[str, str] | None = None) -> float:
    """Seconds between progress points: PONTE_PROGRESS_SECONDS, else 5 (one rhythm for taps and the console)."""
    try:
        return max(0.1, float((os.environ if env is None else env).get(PROGRESS_ENV) or PROGRESS_SECONDS))
    except ValueError:
        return PROGRESS_SECONDS


def _plugin_name() -> str:
    return Path(sys.argv[0]).name or "plugin"


def report(event: str, plugin: str | None = None, **facts: Any) -> None:
    """Append one fact for the launcher; without `PONTE_RUN_REPORT` nothing happens. Never raises.

    One `write` of one line on an O_APPEND descriptor: lines of concurrent plugins never interleave.
    """
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    line = {"event": event, "plugin": plugin or _plugin_name(), "pid": os.getpid(), **facts}
    try:
        append_lines(Path(path), [line])
    except OSError as exc:  # the run itself must not fail because its launcher's report file is gone
        logger.warning("could not tell ponte run about %s (%s): %s", event, path, exc)


def read_report(path: Path) -> list[dict[str, Any]]:
    """Every fact the plugins appended, in order; unreadable lines are skipped with a warning."""
    if not path.exists():
        return []
    facts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fact = json.loads(line)
        except ValueError:
            logger.warning("run report %s line %d is not JSON; ignored", path, number)
            continue
        if isinstance(fact, dict) and isinstance(fact.get("event"), str):
            facts.append(fact)
    return facts
