"""The service's settings, read from the environment over the project's `.env` (the environment wins).

PONTE_SERVE_BIND                host:port to listen on (default 127.0.0.1:8780)
PONTE_DB_DSN / PONTE_DB_SCHEMA  the service's tables (schema `ponte`); unset: the demo's server (local or embedded)
PONTE_SECRET_KEY                signs the panel's sessions; the panel stays off without it (`serve --demo`: random)
PONTE_SERVE_TOKEN               bearer token of /api/* (required when bound to a non-loopback address)
PONTE_SERVE_DRAIN_SECONDS       how long SIGTERM waits for running pipelines before stopping them (300)
PONTE_SERVE_TIMEZONE            time zone of cron schedules (America/Sao_Paulo)
PONTE_SERVE_CATCH_UP            run a schedule once after the service missed its window(s) (true)
PONTE_SERVE_MISFIRE_GRACE_SECONDS  a firing this late is still on time (60)
PONTE_SERVE_JITTER_SECONDS      start each scheduled run up to this many seconds after its time (0)
PONTE_SERVE_RUN_COMMAND         the command that starts a run (default: this installation's `ponte run`)
PONTE_SERVE_LOG_FORMAT          `ponte run --log-format` of the runs the service starts (human)
MELTANO_DATABASE_URI            Meltano's system database (state); unset: schema `meltano` of PONTE_DB_DSN
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ponte.core.console_scripts import console_script
from ponte.core.errors import ConfigError
from ponte.core.project_env import project_env
from ponte.core.setting_text import env_number, read_setting
from ponte.notify import AlertSettings
from ponte.runs import alerting

DEFAULT_BIND = "127.0.0.1:8780"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
MELTANO_SCHEMA = "meltano"
LOG_FORMATS = ("human", "console", "json")
MIN_SECRET_KEY_LENGTH = 16


def parse_bind(text: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:8780`) → (host, port); port 0 picks a free one."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"PONTE_SERVE_BIND must be host:port (e.g. {DEFAULT_BIND}), got {text!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def meltano_database_uri(dsn: str, schema: str = MELTANO_SCHEMA) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for Meltano's system database in `schema` of the PostgreSQL at `dsn`."""
    from urllib.parse import quote, urlencode

    from psycopg.conninfo import conninfo_to_dict

    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    user = quote(info.pop("user", "postgres"), safe="")
    password = info.pop("password", None)
    host = info.pop("host", "")
    port = info.pop("port", None)
    database = quote(info.pop("dbname", "postgres"), safe="")
    netloc = user + (f":{quote(password, safe='')}" if password else "") + "@"
    query = {k: v for k, v in info.items() if k not in ("options", "connect_timeout")}
    if host.startswith("/"):  # a Unix socket (the embedded server): libpq takes it as the host parameter
        query["host"] = host
    else:
        netloc += host or "127.0.0.1"
        if port:
            netloc += f":{port}"
    if host.startswith("/") and port:
        query["port"] = port
    query["options"] = f"-csearch_path={schema}"
    return f"postgresql+psycopg://{netloc}/{database}?{urlencode(query, quote_via=quote)}"


@dataclass
class ServeSettings:
    """Everything `ponte serve` reads, checked at start (a typo fails now, not at 02:00)."""

    project: Path
    host: str = "127.0.0.1"
    port: int = 8780
    dsn: str | None = None
    schema: str = "ponte"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    secret_key_set: bool = False
    token: str | None = field(default=None, repr=False)
    drain_seconds: float = 300.0
    timezone: str = DEFAULT_TIMEZONE
    catch_up: bool = True
    misfire_grace_seconds: float = 60.0
    jitter_seconds: float = 0.0
    run_command: list[str] = field(default_factory=lambda: [console_script("ponte"), "run"])
    log_format: str = "human"
    meltano_database_uri: str | None = field(default=None, repr=False)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    alert_on: frozenset[str] = alerting.DEFAULT_ALERT_ON
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, project: Path, env: Mapping[str, str] | None = None) -> ServeSettings:
        merged = project_env(project, env)
        host, port = parse_bind(merged.get("PONTE_SERVE_BIND") or DEFAULT_BIND)
        token = (merged.get("PONTE_SERVE_TOKEN") or "").strip() or None
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"PONTE_SERVE_BIND is {host}:{port}, reachable from other machines, and PONTE_SERVE_TOKEN is not set; "
                "set a long random token (e.g. `openssl rand -hex 32`) or bind to 127.0.0.1"
            )
        zone = (merged.get("PONTE_SERVE_TIMEZONE") or "").strip() or DEFAULT_TIMEZONE
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"PONTE_SERVE_TIMEZONE {zone!r} is not an IANA time zone (e.g. {DEFAULT_TIMEZONE})"
            ) from None
        log_format = (merged.get("PONTE_SERVE_LOG_FORMAT") or "").strip() or "human"
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"PONTE_SERVE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
        command = (merged.get("PONTE_SERVE_RUN_COMMAND") or "").strip()
        catch_up = (merged.get("PONTE_SERVE_CATCH_UP") or "").strip()
        secret_key = (merged.get("PONTE_SECRET_KEY") or "").strip()
        if secret_key and len(secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"PONTE_SECRET_KEY is {len(secret_key)} characters long; it signs the panel's sessions, so give it at "
                f"least {MIN_SECRET_KEY_LENGTH} random ones (e.g. `openssl rand -hex 32`)"
            )
        return cls(
            project=project,
            host=host,
            port=port,
            dsn=(merged.get("PONTE_DB_DSN") or "").strip() or None,
            schema=(merged.get("PONTE_DB_SCHEMA") or "").strip() or "ponte",
            secret_key=secret_key or secrets.token_urlsafe(32),
            secret_key_set=bool(secret_key),
            token=token,
            drain_seconds=env_number(merged, "PONTE_SERVE_DRAIN_SECONDS", 300.0),
            timezone=zone,
            catch_up=bool(read_setting("boolean", catch_up, "PONTE_SERVE_CATCH_UP")) if catch_up else True,
            misfire_grace_seconds=env_number(merged, "PONTE_SERVE_MISFIRE_GRACE_SECONDS", 60.0),
            jitter_seconds=env_number(merged, "PONTE_SERVE_JITTER_SECONDS", 0.0),
            run_command=shlex.split(command) if command else [console_script("ponte"), "run"],
            log_format=log_format,
            meltano_database_uri=(merged.get("MELTANO_DATABASE_URI") or "").strip() or None,
            alerts=alerting.alert_settings(merged),
            alert_on=alerting.alert_on(merged),
            env=merged,
        )

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def secrets(self) -> list[str]:
        """Values never to print: the token, the secret key, the DSNs and the alert channels' secrets."""
        found = [self.token or "", self.secret_key, self.dsn or "", self.meltano_database_uri or ""]
        if self.dsn:
            from psycopg.conninfo import conninfo_to_dict

            with contextlib.suppress(Exception):  # a DSN libpq cannot parse is refused where it is used
                found.append(str(conninfo_to_dict(self.dsn).get("password") or ""))
        return [value for value in [*found, *self.alerts.secrets()] if value]
