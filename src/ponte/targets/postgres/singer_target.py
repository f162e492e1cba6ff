"""TargetPostgres: the singer-sdk face of the loader.

singer-sdk supplies the Singer surface: `--about` (settings and capabilities), config parsing and validation,
`--config ENV`, stream maps and flattening, and the standard target tests. Every message is still handled by
the SDK-free `Loader`: RECORDs are read by its own loop (`FastSingerReader`), and only SCHEMA goes through
the SDK first, so stream maps can rename, filter or split streams.
"""

from __future__ import annotations

import typing as t
from collections import Counter

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform
from singer_sdk.singerlib.encoding.base import GenericSingerReader

from ponte.targets.postgres import protocol
from ponte.targets.postgres.loader import Loader, LoadInterrupted, Route
from ponte.targets.postgres.reader import decode_message
from ponte.targets.postgres.settings import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_ROWS,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RECONNECT_ATTEMPTS,
    DEFAULT_RECONNECT_BACKOFF,
    LOAD_METHODS,
    LoaderSettings,
)
from ponte.targets.postgres.values import encode_json_any

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.mapper import StreamMap

CONFIG_SCHEMA = th.PropertiesList(
    th.Property("host", th.StringType, description="PostgreSQL host (libpq's PGHOST applies when unset)."),
    th.Property("port", th.IntegerType, default=5432, description="PostgreSQL port."),
    th.Property("user", th.StringType, description="Role the loader connects as."),
    th.Property("password", th.StringType, secret=True, description="Password of `user`."),
    th.Property("database", th.StringType, description="Database to load into."),
    th.Property(
        "dsn",
        th.StringType,
        secret=True,
        description="libpq connection string or URI (postgresql://user:pass@host:5432/db?sslmode=require); "
        "when set, host/port/user/password/database are ignored.",
    ),
    th.Property(
        "sqlalchemy_url",
        th.StringType,
        secret=True,
        description="`dsn` as MeltanoLabs target-postgres names it: postgresql[+driver]://user:password@host:5432/db.",
    ),
    th.Property(
        "ssl_mode",
        th.StringType,
        allowed_values=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        description="libpq sslmode.",
    ),
    th.Property(
        "default_target_schema",
        th.StringType,
        description="Schema for the tables (one per source, e.g. `sienge`); defaults to Meltano's "
        "$MELTANO_EXTRACT__LOAD_SCHEMA, else `public`.",
    ),
    th.Property(
        "schema_mapping",
        th.ObjectType(additional_properties=th.StringType),
        description='Per-stream destination: {"stream": "schema"} or {"stream": "schema.table"}; key `*` '
        "applies to streams not listed.",
    ),
    th.Property(
        "load_method",
        th.StringType,
        default="upsert",
        allowed_values=list(LOAD_METHODS),
        description="`upsert` merges on the stream's key (streams without one append); `append-only` never "
        "merges (new tables get no primary key); `overwrite` empties each table in its first batch of the run.",
    ),
    th.Property(
        "batch_size_rows", th.IntegerType, default=DEFAULT_BATCH_ROWS, description="Commit after this many records."
    ),
    th.Property(
        "batch_size_bytes",
        th.IntegerType,
        default=DEFAULT_BATCH_BYTES,
        description="Commit after this many bytes of input (records are streamed, never held in memory).",
    ),
    th.Property(
        "flush_interval_seconds",
        th.CustomType({"type": ["number", "string"], "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"}),  # text from Meltano
        default=DEFAULT_FLUSH_INTERVAL,
        description="On a STATE message, commit open batches older than this so the STATE can be emitted "
        "(0: commit at every STATE).",
    ),
    th.Property(
        "add_record_metadata", th.BooleanType, default=True, description="Add _sdc_extracted_at and _sdc_received_at."
    ),
    th.Property(
        "hard_delete",
        th.BooleanType,
        default=False,
        description="Delete rows a full-table sync no longer sends (ACTIVATE_VERSION) instead of setting _sdc_deleted_at.",
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        default=False,
        description="Check every record against its JSON Schema (slow); invalid ones go to the dead-letter table.",
    ),
    th.Property(
        "process_activate_version_messages",
        th.BooleanType,
        default=True,
        description="Act on ACTIVATE_VERSION (mark or delete rows a full-table sync did not send).",
    ),
    th.Property(
        "pipeline_name",
        th.StringType,
        description="Name in the run log; defaults to Meltano's <environment>:<tap>-to-<target>.",
    ),
    th.Property("log_schema", th.StringType, default="ponte", description="Schema of sync_runs and dead_letters."),
    th.Property(
        "max_connections",
        th.IntegerType,
        default=DEFAULT_MAX_CONNECTIONS,
        description="Connections kept open for streams (one per stream with an open batch, plus the run log); "
        "streams that are idle give theirs back beyond this.",
    ),
    th.Property(
        "reconnect_attempts",
        th.IntegerType,
        default=DEFAULT_RECONNECT_ATTEMPTS,
        description="When the connection drops (server restart, failover, idle timeout), reconnect this many "
        "times, replaying the batch that was not committed, before giving up (0: give up at once).",
    ),
    th.Property(
        "reconnect_backoff_seconds",
        th.CustomType({"type": ["number", "string"], "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"}),
        default=DEFAULT_RECONNECT_BACKOFF,
        description="Wait before the first reconnection; doubles with each attempt (with jitter, at most 30 s).",
    ),
).to_dict()


def _is_identity(stream_map: StreamMap) -> bool:
    return type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled


class FastSingerReader(GenericSingerReader[str]):
    """Plugs the loader's message loop into the SDK (which calls `process_lines` from `listen`)."""

    def __init__(self, loader: Loader) -> None:
        super().__init__()
        self.loader = loader

    @property
    def default_input(self) -> t.IO[str]:
        """Standard input, read as bytes by the loop."""
        import sys

        return sys.stdin

    def deserialize_json(self, line: str) -> dict:
        """Decode one message (integers exact, fractions as Decimal)."""
        return decode_message(line)

    def process_lines(self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]) -> Counter:
        """Run the loader's loop with the SDK target's callbacks (so SCHEMA goes through stream maps)."""
        return self.loader.read(file_input, callbacks)


class TargetPostgres(Target):
    """Loads Singer streams into typed, commented PostgreSQL tables with COPY and ON CONFLICT upserts."""

    name = "target-postgres"
    package_name = "ponte-elt"
    config_jsonschema = CONFIG_SCHEMA
    capabilities: t.ClassVar = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.ACTIVATE_VERSION,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.TARGET_SCHEMA,
        TargetCapabilities.SOFT_DELETE,
        TargetCapabilities.HARD_DELETE,
    ]

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.loader = Loader(LoaderSettings.from_config(self.config), self.logger)
        if kwargs.get("message_reader") is None:
            self.message_reader = FastSingerReader(self.loader)

    def _process_schema_message(self, message_dict: dict) -> None:
        """Register the schema with the SDK's stream maps, then attach the mapped streams to sinks."""
        protocol.require(message_dict, ["stream", "schema"])
        protocol.require(message_dict["schema"], ["properties"])
        stream, schema = message_dict["stream"], message_dict["schema"]
        keys = list(message_dict.get("key_properties") or [])
        known = self.mapper.stream_maps.get(stream)
        if known and known[0].raw_schema == schema and list(known[0].raw_key_properties or []) == keys:
            return
        self.mapper.register_raw_stream_schema(stream, schema, keys)
        routes: list[Route] = [
            (
                None if _is_identity(stream_map) else stream_map.transform,
                stream_map.stream_alias,
                stream_map.transformed_schema,
                list(stream_map.transformed_key_properties or []),
            )
            for stream_map in self.mapper.stream_maps[stream]
            if not isinstance(stream_map, RemoveRecordTransform)
        ]
        self.loader.attach(stream, routes)

    def _process_record_message(self, message_dict: dict) -> None:
        """Used only if another reader is plugged in; ours hands RECORDs to the loader directly."""
        self.loader.on_record(message_dict, encode_json_any(message_dict) + b"\n")

    def _process_state_message(self, message_dict: dict) -> None:
        self.loader.on_state(message_dict)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        self.loader.on_activate_version(message_dict)

    def _process_batch_message(self, message_dict: dict) -> None:
        self.loader.on_batch(message_dict)

    def process_endofpipe(self) -> None:
        """End of input: commit, emit the last STATE, close the run log."""
        self.loader.finish()

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop where we are; the loop rolls back, records 'interrupted' and exits 128+signum."""
        self.logger.warning("received signal %d: rolling back open batches and stopping", signum)
        raise LoadInterrupted(signum)
