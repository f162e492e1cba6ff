"""Alerts for runs started by `ponte run` — any pipeline, so the daily Sienge job at 3 AM can wake someone.

Settings come from the environment (or the project's `.env`), the `PONTE_ALERT_*` family: the targets'
`alert_*` settings under the launcher's prefix (`PONTE_ALERT_SMTP_HOST`, `_SMTP_PORT`, `_SMTP_STARTTLS`,
`_SMTP_SSL`, `_SMTP_USER`, `_SMTP_PASSWORD`, `_SMTP_FROM`, `_SMTP_TO`, `_WEBHOOK_URL`, `_TIMEOUT_SECONDS`),
plus `PONTE_ALERT_ON`: the statuses that alert (default `failed`). Delivery is `ponte.notify`'s: both channels
independent, every text redacted, an alert problem never changes the run's outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ponte.core.errors import CircuitOpen, ConfigError
from ponte.notify import Alert, AlertSettings
from ponte.runs.outcome import STATUSES
from ponte.runs.store import PipelineRun

PREFIX = "PONTE_ALERT_"
ALERT_ON = f"{PREFIX}ON"
DEFAULT_ALERT_ON = frozenset({"failed"})


def alert_settings(env: Mapping[str, str]) -> AlertSettings:
    """AlertSettings from `PONTE_ALERT_*`; a bad combination is refused naming the variables to fix."""
    config = {
        "alert_" + name[len(PREFIX) :].lower(): value
        for name, value in env.items()
        if name.startswith(PREFIX) and name != ALERT_ON and str(value).strip()
    }
    try:
        return AlertSettings.from_config(config)
    except ConfigError as exc:
        message = re.sub(r"\balert_(\w+)", lambda m: PREFIX + m.group(1).upper(), str(exc))
        raise ConfigError(message) from None


def alert_on(env: Mapping[str, str]) -> frozenset[str]:
    """The final statuses that send an alert (`PONTE_ALERT_ON`, comma-separated)."""
    text = str(env.get(ALERT_ON) or "").strip()
    if not text:
        return DEFAULT_ALERT_ON
    wanted = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = sorted(wanted - set(STATUSES[1:]))
    if unknown:
        raise ConfigError(
            f"{ALERT_ON} names unknown status(es) {', '.join(unknown)}; use some of: " + ", ".join(STATUSES[1:])
        )
    return wanted


def _title(run: PipelineRun) -> str:
    if run.status == "failed":
        if run.exit_code == CircuitOpen.exit_code:
            return f"run stopped: {run.failed_plugin or 'a plugin'} found its API unavailable (circuit open)"
        if run.failed_plugin and run.failed_plugin != "meltano":
            code = next((p.get("exit_code") for p in run.plugins if p.get("name") == run.failed_plugin), None)
            return f"run failed: {run.failed_plugin} exited with code {code if code is not None else run.exit_code}"
        return f"run failed (exit code {run.exit_code})"
    if run.status == "partial":
        rejected = sum(int(s.get("rejected") or 0) for s in run.streams)
        return f"run partial: {max(run.dead_letters, rejected)} record(s) dead-lettered"
    if run.status == "stopped-quota":
        return "run stopped: the daily request quota is spent"
    return f"run {run.status}"


def run_alert(run: PipelineRun, recorded_in: str, rerun: str) -> Alert:
    """The alert for one finished run: what failed, its error line, and what to do next."""
    where = f"{run.environment} " if run.environment else ""
    if run.status == "failed":
        summary = f"The {where}pipeline '{run.pipeline}' failed: {run.error}"
    elif run.status == "partial":
        summary = (f"The {where}pipeline '{run.pipeline}' ran to the end, but records were dead-lettered; the "
                   "others landed.")  # fmt: skip
    elif run.status == "stopped-quota":
        summary = (f"The {where}pipeline '{run.pipeline}' stopped cleanly on a spent daily request quota; the next "
                   "run resumes where it stopped.")  # fmt: skip
    else:
        summary = f"The {where}pipeline '{run.pipeline}' {run.status}."
    actions = [
        f"Read the run's log for the lines before the error; the record is run {run.run_id} in {recorded_in}.",
        f"Fix the cause, then start it again: {rerun}",
    ]
    if run.status == "partial":
        actions = [f"List the dead-lettered records: ponte dlq list --run {run.run_id}", *actions[1:]]
    elif run.status == "failed" and run.exit_code == CircuitOpen.exit_code:
        actions = [
            "Check whether the API is up (its status page, its provider); nothing was lost: the records not sent "
            "are not dead-lettered and no STATE went past them.",
            f"After the time the error names, start it again (or let the schedule do it): {rerun}",
        ]
    elif run.status == "stopped-quota":
        actions = ["Nothing to do if the quota is expected to run out; otherwise raise the plan's daily quota."]
    details = {
        "environment": run.environment,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "plugins": run.plugins,
        "streams": run.streams,
        "dead_letters": run.dead_letters,
    }
    severity = "error" if run.status == "failed" else "warning"
    return Alert(run.pipeline, severity, _title(run), summary, details, run_id=str(run.run_id), actions=actions)
