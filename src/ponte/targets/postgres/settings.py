"""Loader settings with their defaults applied, and the libpq connection string they describe.

Kept free of singer-sdk imports so `ponte db` can build the same connection without paying for the SDK.
The JSON Schema users see (`target-postgres --about`) is declared in `target.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ponte.core.errors import ConfigError

LOAD_METHODS = ("upsert", "append-only", "overwrite")
DEFAULT_BATCH_ROWS = 50_000
DEFAULT_BATCH_BYTES = 32 * 1024 * 1024
DEFAULT_FLUSH_INTERVAL = 60.0
DEFAULT_MAX_CONNECTIONS = 8
DEFAULT_RECONNECT_ATTEMPTS = 6
DEFAULT_RECONNECT_BACKOFF = 1.0
APPLICATION_NAME = "ponte target-postgres"
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


def _default_schema() -> str:
    """Meltano passes the extractor's `load_schema` extra to loaders; without Meltano, `public`."""
    return os.environ.get("MELTANO_EXTRACT__LOAD_SCHEMA") or "public"


def _default_pipeline() -> str:
    """`<environment>:<tap>-to-<target>` when run by Meltano (its state ID), else `target-postgres`."""
    extractor, loader = os.environ.get("MELTANO_EXTRACTOR_NAME"), os.environ.get("MELTANO_LOADER_NAME")
    if not (extractor and loader):
        return "target-postgres"
    environment = os.environ.get("MELTANO_ENVIRONMENT")
    name = f"{extractor}-to-{loader}"
    return f"{environment}:{name}" if environment else name


def build_conninfo(config: Mapping[str, Any], application_name: str = APPLICATION_NAME) -> str:
    """A libpq connection string from `dsn` (or `sqlalchemy_url`) or from host/port/user/password/database.

    Missing parts are left to libpq, so PGHOST, PGUSER, PGPASSWORD, ~/.pgpass and PGSSLMODE still apply.
    """
    given = connection_url(config)
    if given:
        setting, dsn = given
        try:
            parts = conninfo_to_dict(dsn)
        except Exception as exc:
            raise ConfigError(
                f"target-postgres: setting '{setting}' is not a valid PostgreSQL connection string "
                "(expected postgresql://user:password@host:5432/database or 'host=… dbname=…')"
            ) from exc
    else:
        parts = {}
        for setting, keyword in (
            ("host", "host"),
            ("port", "port"),
            ("user", "user"),
            ("password", "password"),
            ("database", "dbname"),
            ("ssl_mode", "sslmode"),
        ):
            if config.get(setting) not in (None, ""):
                parts[keyword] = str(config[setting])
    parts.setdefault("application_name", application_name)
    return make_conninfo(**parts)


def connection_url(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """(setting, libpq URI or key=value string) from `dsn` or `sqlalchemy_url`, or None when neither is set.

    `sqlalchemy_url` is the name MeltanoLabs target-postgres users know; a SQLAlchemy driver suffix
    (postgresql+psycopg2://, +psycopg, +asyncpg, …) is dropped. A URL of another database, or two settings
    that disagree, are refused: the data would otherwise land somewhere the user did not ask for.
    """
    given: dict[str, str] = {}
    for setting in ("dsn", "sqlalchemy_url"):
        value = config.get(setting)
        if value in (None, ""):
            continue
        text = str(value).strip()
        scheme = _SCHEME.match(text)
        if scheme:
            base = scheme.group("scheme").lower().partition("+")[0]
            if base not in ("postgresql", "postgres"):
                raise ConfigError(
                    f"target-postgres: setting '{setting}' is a {base} URL; it must point at PostgreSQL "
                    "(postgresql://user:password@host:5432/database)"
                )
            text = "postgresql://" + text[scheme.end() :]
        given[setting] = text
    if len(set(given.values())) > 1:
        raise ConfigError(
            "target-postgres: settings 'dsn' and 'sqlalchemy_url' are both set and differ; set only one "
            "(sqlalchemy_url is the MeltanoLabs name of dsn)"
        )
    return next(iter(given.items()), None)


@dataclass(frozen=True)
class LoaderSettings:
    """Every setting the loader reads, defaults applied once, so the hot path never looks at raw config."""

    conninfo: str
    default_schema: str = "public"
    schema_mapping: dict[str, str] = field(default_factory=dict)
    load_method: str = "upsert"
    batch_size_rows: int = DEFAULT_BATCH_ROWS
    batch_size_bytes: int = DEFAULT_BATCH_BYTES
    flush_interval_seconds: float = DEFAULT_FLUSH_INTERVAL
    add_record_metadata: bool = True
    hard_delete: bool = False
    process_activate_version: bool = True
    validate_records: bool = False
    pipeline_name: str = "target-postgres"
    log_schema: str = "ponte"
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS
    reconnect_backoff_seconds: float = DEFAULT_RECONNECT_BACKOFF

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoaderSettings:
        """Apply defaults and check the values a JSON Schema cannot (positive sizes, known methods)."""

        def pick(name: str, default: Any) -> Any:
            value = config.get(name)
            return default if value is None else value

        load_method = str(pick("load_method", "upsert"))
        if load_method not in LOAD_METHODS:
            raise ConfigError(f"target-postgres: load_method '{load_method}' is not one of {', '.join(LOAD_METHODS)}")
        rows, size = (
            int(pick("batch_size_rows", DEFAULT_BATCH_ROWS)),
            int(pick("batch_size_bytes", DEFAULT_BATCH_BYTES)),
        )
        if rows < 1 or size < 1:
            raise ConfigError("target-postgres: batch_size_rows and batch_size_bytes must be positive")
        mapping = pick("schema_mapping", {})
        if not isinstance(mapping, Mapping):
            raise ConfigError("target-postgres: schema_mapping must map stream names to 'schema' or 'schema.table'")
        return cls(
            conninfo=build_conninfo(config),
            default_schema=str(pick("default_target_schema", "") or _default_schema()),
            schema_mapping={str(k): str(v) for k, v in mapping.items()},
            load_method=load_method,
            batch_size_rows=rows,
            batch_size_bytes=size,
            flush_interval_seconds=float(pick("flush_interval_seconds", DEFAULT_FLUSH_INTERVAL)),
            add_record_metadata=bool(pick("add_record_metadata", True)),
            hard_delete=bool(pick("hard_delete", False)),
            process_activate_version=bool(pick("process_activate_version_messages", True)),
            validate_records=bool(pick("validate_records", False)),
            pipeline_name=str(pick("pipeline_name", "") or _default_pipeline()),
            log_schema=str(pick("log_schema", "ponte")),
            max_connections=max(1, int(pick("max_connections", DEFAULT_MAX_CONNECTIONS))),
            reconnect_attempts=max(0, int(pick("reconnect_attempts", DEFAULT_RECONNECT_ATTEMPTS))),
            reconnect_backoff_seconds=max(0.0, float(pick("reconnect_backoff_seconds", DEFAULT_RECONNECT_BACKOFF))),
        )

    def destination(self, stream: str) -> tuple[str, str | None]:
        """(schema, table or None for "derive from the stream name") for a stream."""
        mapped = self.schema_mapping.get(stream) or self.schema_mapping.get("*")
        if not mapped:
            return self.default_schema, None
        schema, _, table = mapped.partition(".")
        return schema, table or None
