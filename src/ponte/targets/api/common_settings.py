"""Settings every ingest-API target has, whatever its declaration says: dead letters, logs, alerts, spool."""

from __future__ import annotations

from typing import Any

from ponte.runlog.dead_letters import DEAD_LETTER_SETTINGS

COMMON_SETTINGS: tuple[dict[str, Any], ...] = (
    *DEAD_LETTER_SETTINGS,
    {"name": "run_log_dsn", "kind": "string", "secret": True,
     "description": "PostgreSQL DSN of the run history (`ponte.sync_runs`) and the job log (`ponte.sync_jobs`); empty: job log in job_log_path."},
    {"name": "run_log_schema", "kind": "string", "default": "ponte", "description": "Schema of sync_runs and sync_jobs."},
    {"name": "job_log_path", "kind": "string", "default": ".ponte/jobs.jsonl",
     "description": "Job log file used when run_log_dsn is empty."},
    {"name": "spool_dir", "kind": "string",
     "description": "Folder for the on-disk spool of records waiting to be sent (default: the system temp folder)."},
    {"name": "dry_run", "kind": "boolean", "default": False,
     "description": "Send nothing: log what each record would do (the entity's dry_run_line) and write it to the history as dry-run (`ponte run --dry-run` sets PONTE_DRY_RUN)."},
    {"name": "fail_on_dead_letters", "kind": "boolean", "default": False,
     "description": "Exit with code 6 when any record was dead-lettered (the good ones still land)."},
    {"name": "alert_smtp_host", "kind": "string", "description": "SMTP server for failure alerts."},
    {"name": "alert_smtp_port", "kind": "integer", "default": 25, "description": "SMTP port."},
    {"name": "alert_smtp_starttls", "kind": "boolean", "default": False, "description": "Use STARTTLS."},
    {"name": "alert_smtp_ssl", "kind": "boolean", "default": False, "description": "Use SMTP over TLS (port 465)."},
    {"name": "alert_smtp_user", "kind": "string", "description": "SMTP user."},
    {"name": "alert_smtp_password", "kind": "string", "secret": True, "description": "SMTP password."},
    {"name": "alert_smtp_from", "kind": "string", "default": "ponte@localhost", "description": "Sender of alerts."},
    {"name": "alert_smtp_to", "kind": "array", "description": "Recipients of alerts (list or comma-separated)."},
    {"name": "alert_webhook_url", "kind": "string", "secret": True,
     "description": "URL that receives a JSON POST per alert (Slack/Teams bridge, monitoring)."},
)  # fmt: skip


def all_settings(declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declaration's settings, then every common one it does not redefine."""
    names = {s["name"] for s in declared}
    return [*declared, *(dict(s) for s in COMMON_SETTINGS if s["name"] not in names)]
