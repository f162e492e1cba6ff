"""The launcher's own settings, read from the environment and, like Meltano does, the project's `.env`.

PONTE_DB_DSN            database of Ponte's own tables (the run record `<schema>.pipeline_runs`); best the
                        loader's database, so the record sits next to `sync_runs`. Empty: a JSON Lines file.
PONTE_DB_SCHEMA         schema of those tables (default `ponte`, the loader's default `log_schema`).
PONTE_PIPELINE_RUNS_PATH  the file used without a database (default `.ponte/pipeline_runs.jsonl`).
PONTE_ALERT_*           alerts (see ponte.runs.alerting).
PONTE_RUN_LOCK_WAIT_SECONDS  how long a run waits for an extractor another run is using (default 3600; 0:
                        fail at once); then it fails with exit code 75 (see ponte.runs.extractor_locks).

Meltano's `env:` blocks in meltano.yml reach the plugins only, not the launcher: set these in `.env` or the
scheduler's environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ponte.core.errors import ConfigError
from ponte.core.project_env import project_env as dotenv_env
from ponte.core.setting_text import env_number
from ponte.notify import AlertSettings
from ponte.runs import alerting
from ponte.runs.extractor_locks import DEFAULT_WAIT_SECONDS, WAIT_SETTING
from ponte.runs.store import FileRunStore, PostgresRunStore, RunStore
from ponte.targets.postgres.settings import build_conninfo

DEFAULT_RUNS_PATH = ".ponte/pipeline_runs.jsonl"
APPLICATION_NAME = "ponte run"

logger = logging.getLogger(__name__)


def project_env(project: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus the `PONTE_*` settings of the project's `.env` that `env` does not set."""
    return dotenv_env(project, env, prefix="PONTE_")


@dataclass
class LaunchSettings:
    """Where the record goes and who gets alerts."""

    project: Path
    db_dsn: str | None
    db_schema: str
    runs_path: Path
    alerts: AlertSettings
    alert_on: frozenset[str]
    lock_wait_seconds: float = DEFAULT_WAIT_SECONDS

    @classmethod
    def read(cls, project: Path, env: Mapping[str, str]) -> LaunchSettings:
        """Read and check every setting before anything starts (a typo fails now, not after a 3-hour load)."""
        dsn = (env.get("PONTE_DB_DSN") or "").strip() or None
        if dsn is not None:
            _conninfo(dsn)
        runs_path = Path(env.get("PONTE_PIPELINE_RUNS_PATH") or DEFAULT_RUNS_PATH)
        return cls(
            project=project,
            db_dsn=dsn,
            db_schema=(env.get("PONTE_DB_SCHEMA") or "").strip() or "ponte",
            runs_path=runs_path if runs_path.is_absolute() else project / runs_path,
            alerts=alerting.alert_settings(env),
            alert_on=alerting.alert_on(env),
            lock_wait_seconds=env_number(env, WAIT_SETTING, DEFAULT_WAIT_SECONDS),
        )

    def secrets(self) -> list[str]:
        """Values never to print: the database DSN and its password, the alert channels' secrets."""
        found = [*self.alerts.secrets()]
        if self.db_dsn:
            from psycopg.conninfo import conninfo_to_dict

            found += [self.db_dsn, str(conninfo_to_dict(_conninfo(self.db_dsn)).get("password") or "")]
        return [value for value in found if value]

    def file_store(self) -> FileRunStore:
        return FileRunStore(self.runs_path)

    def open_store(self, warn: Callable[[str], None]) -> RunStore:
        """The database store, or the file when there is no database or it cannot be reached (said once)."""
        if self.db_dsn is None:
            return self.file_store()
        try:
            return PostgresRunStore(_conninfo(self.db_dsn), self.db_schema)
        except Exception as exc:  # the record must not be lost because the database is down
            warn(f"cannot write the run record to PONTE_DB_DSN ({type(exc).__name__}: {exc}); "
                 f"writing it to {self.runs_path} instead")  # fmt: skip
            return self.file_store()


def _conninfo(dsn: str) -> str:

    try:
        return build_conninfo({"dsn": dsn}, application_name=APPLICATION_NAME)
    except ConfigError:
        raise ConfigError(
            "PONTE_DB_DSN is not a valid PostgreSQL connection string (expected "
            "postgresql://user:password@host:5432/database or 'host=… dbname=…'); fix it or leave it empty "
            f"to record runs in {DEFAULT_RUNS_PATH}"
        ) from None
