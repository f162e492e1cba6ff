"""`tap-keyence`: a singer-sdk tap reading the SICFAR gateway's TXT files, as declared in taps/keyence.yml.

singer-sdk provides the command line, config validation, `--about`, discovery, catalog selection and stream
maps. The sync loop is ours, because one pass over the files feeds two streams (parsed lines and rejected
ones) and, in follow mode, never ends:

    scan the folder → up to 5,000 new complete lines → RECORDs (parsed or rejected) → STATE → …

Every STATE covers exactly the records written before it (the target commits them, then echoes it). Without
`follow` the tap exits once no complete line is left; with `follow: true` it polls every
`poll_interval_seconds` and sends a STATE at least every second (the target's cue to commit), until SIGTERM or
SIGINT: then it finishes the batch in hand, sends a last STATE and exits 0 — never in the middle of a message.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import click
from singer_sdk import Stream, Tap
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage, StateMessage

from ponte.core.errors import ConfigError, PonteError
from ponte.core.log_level import misnamed_level_warning, plugin_log_level
from ponte.declaration.settings_schema import settings_jsonschema
from ponte.linefiles.declaration import LineFormat, find_declaration, load_line_format
from ponte.linefiles.parsing import LineParser, Rejected
from ponte.linefiles.reader import FolderReader, RawLine
from ponte.linefiles.schemas import KEY, lines_schema, rejects_schema
from ponte.tap.lifecycle import BufferedMsgSpecWriter, tap_from_cli

LINES_PER_BATCH = 5_000
HEARTBEAT_SECONDS = 1.0
PROGRESS_LOG_SECONDS = 60.0


class LineFileStream(Stream):
    """A stream whose records the tap's own loop writes (see `LineFilesTap.sync_all`)."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # values are built JSON-ready by the parser

    def __init__(self, tap: Tap, name: str, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema=schema, name=name)
        self.primary_keys = KEY
        self.forced_replication_method = "INCREMENTAL"
        self._plain: bool | None = None

    def get_records(self, context: Any) -> Any:
        """Not used: one pass over the files feeds both streams, in `LineFilesTap.sync_all`."""
        raise NotImplementedError("records are written by the tap's file loop")

    def emit(self, record: dict[str, Any]) -> None:
        """One RECORD (through stream maps and property selection when the catalog or config asks for them)."""
        if self._plain is None:
            maps = self.stream_maps
            self._plain = (
                len(maps) == 1
                and type(maps[0]).__name__ == "SameRecordTransform"
                and maps[0].stream_alias == self.name
                and all(self.mask.values())
            )
        if self._plain:
            self._tap.write_message(RecordMessage(stream=self.name, record=record, time_extracted=self._extracted))
        else:
            self._write_record_message(record)

    @property
    def _extracted(self) -> dt.datetime:
        return self._tap.batch_extracted_at  # type: ignore[attr-defined]


class LineFilesTap(Tap):
    """Base of the tap class `build_tap_class` makes for one line-files declaration."""

    fmt: LineFormat
    message_writer_class = BufferedMsgSpecWriter
    package_name = "ponte-elt"
    # No BATCH (records only) and no ACTIVATE_VERSION (append-only lines: nothing to retire).
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.stop_requested = threading.Event()
        self.batch_extracted_at = dt.datetime.now(dt.UTC)
        super().__init__(*args, **kwargs)

    def discover_streams(self) -> list[Stream]:
        """The parsed lines and the rejected lines."""
        return [
            LineFileStream(self, self.fmt.lines_stream, lines_schema(self.fmt)),
            LineFileStream(self, self.fmt.rejects_stream, rejects_schema()),
        ]

    # -- signals -------------------------------------------------------------------------------------------

    def _handle_termination(self, signum: int, frame: Any) -> None:
        """SIGTERM/SIGINT: finish the batch in hand, send the last STATE, exit 0 (a second signal: exit now)."""
        if self.stop_requested.is_set():
            os._exit(128 + signum)
        self.logger.info("signal %d: stopping after the current batch", signum)
        self.stop_requested.set()

    # -- sync ----------------------------------------------------------------------------------------------

    def _reader(self) -> FolderReader:
        folder = Path(self.config["folder"]).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"{self.name}: folder {folder} does not exist or is not a folder (setting folder, "
                "env TAP_KEYENCE_FOLDER)"
            )
        bookmark = (self.state.get("bookmarks") or {}).get(self.fmt.lines_stream) or {}
        glob = self.config.get("file_glob") or self.fmt.glob
        return FolderReader(folder, glob, header_lines=self.fmt.header_lines, state=bookmark, logger=self.logger)

    def _write_state(self, reader: FolderReader) -> None:
        self.state.setdefault("bookmarks", {})[self.fmt.lines_stream] = reader.state
        self.write_message(StateMessage(value=self.state))

    def sync_all(self) -> None:
        """Read every complete line not read yet (and keep doing it in follow mode), then a final STATE."""
        reader = self._reader()
        follow = bool(self.config.get("follow"))
        interval = float(self.config.get("poll_interval_seconds") or 0.5)
        streams = {name: self.streams[name] for name in (self.fmt.lines_stream, self.fmt.rejects_stream)}
        lines_stream, rejects_stream = streams.values()
        for stream in streams.values():
            if stream.selected:
                stream._write_schema_message()
        parser = LineParser(self.fmt)
        counts = {"lines": 0, "rejected": 0, "blank": 0}
        reported, last_state, reported_counts = time.monotonic(), 0.0, dict(counts)
        self.logger.info(
            "reading %s/%s%s", reader.folder, reader.glob, f" (follow mode, every {interval:g}s)" if follow else ""
        )
        while True:
            batch = reader.poll(LINES_PER_BATCH)
            if batch:
                self.batch_extracted_at = dt.datetime.now(dt.UTC)
                for raw in batch:
                    self._emit_line(raw, parser, lines_stream, rejects_stream, counts)
            now = time.monotonic()
            if batch or not follow or now - last_state >= HEARTBEAT_SECONDS:
                self._write_state(reader)
                last_state = now
            if follow and now - reported >= PROGRESS_LOG_SECONDS:
                delta = {k: counts[k] - reported_counts[k] for k in counts}
                self.logger.info(
                    "last %.0fs: %d lines loaded, %d rejected", now - reported, delta["lines"], delta["rejected"]
                )
                reported, reported_counts = now, dict(counts)
            if self.stop_requested.is_set():
                break
            if len(batch) < LINES_PER_BATCH:
                if not follow:
                    break
                self.stop_requested.wait(interval)
        if follow:
            self._write_state(reader)  # one-shot runs wrote it in the last pass already
        self.logger.info(
            "read %d lines: %d records, %d rejected (see stream %s), %d blank skipped",
            sum(counts.values()),
            counts["lines"],
            counts["rejected"],
            self.fmt.rejects_stream,
            counts["blank"],
        )

    def _emit_line(
        self, raw: RawLine, parser: LineParser, lines: LineFileStream, rejects: LineFileStream, counts: dict
    ) -> None:
        origin = {
            "_file_id": raw.file_id,
            "_file_offset": raw.offset,
            "_file_name": raw.file_name,
            "_file_line": raw.number,
        }
        data = raw.data[:-1] if raw.data.endswith(b"\r") else raw.data
        try:
            if raw.too_long:
                raise Rejected("no newline within 1 MiB: not a line of this format (first MiB kept)")
            try:
                text = data.decode(self.fmt.encoding)
            except UnicodeDecodeError as exc:
                raise Rejected(f"not valid {self.fmt.encoding}: {exc.reason} at byte {exc.start}") from None
            if not text.strip():
                counts["blank"] += 1
                return
            record = parser.parse(text)
        except Rejected as verdict:
            counts["rejected"] += 1
            if rejects.selected:
                text = data.decode(self.fmt.encoding, errors="replace")
                rejects.emit({**origin, "raw_line": text, "reason": verdict.reason})
            return
        counts["lines"] += 1
        if lines.selected:
            record.update(origin)
            lines.emit(record)

    def run_connection_test(self) -> bool:
        """`--test`: the folder is readable; how many files match and the newest one."""
        reader = self._reader()
        found = reader._scan() or []
        newest = found[-1][0] if found else "none"
        self.logger.info("folder %s: %d files match %s; newest: %s", reader.folder, len(found), reader.glob, newest)
        return True

    # -- command line --------------------------------------------------------------------------------------

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: Any = None,
        catalog: Any = None,
    ) -> None:
        """singer-sdk's, with expected failures as one line + exit code, and a target that stops reading."""
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        try:
            tap = tap_from_cli(cls, config, state, catalog)
            tap.sync_all()
            sys.stdout.flush()
        except PonteError as exc:
            cls.logger.error("%s", exc)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # The target stopped reading: whatever it committed has its STATE; the rest is read again next time.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            cls.logger.error("%s: the target closed its input (broken pipe); stopping", cls.name)
            sys.exit(1)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: a bad folder is one line and exit 2, not a traceback."""
        try:
            super().cb_test(ctx, param, value)
        except PonteError as exc:
            click.echo(f"{cls.name}: connection test FAILED — {exc}", err=True)
            ctx.exit(exc.exit_code)


def build_tap_class(fmt: LineFormat) -> type[LineFilesTap]:
    """The Tap class of one line-files declaration (`tap-<name>`)."""

    class DeclaredLineFilesTap(LineFilesTap):
        name = f"tap-{fmt.name}"
        config_jsonschema = settings_jsonschema(fmt.settings)

    DeclaredLineFilesTap.fmt = fmt
    DeclaredLineFilesTap.__doc__ = fmt.description or f"Lines of the files declared in {fmt.file}."
    DeclaredLineFilesTap.__name__ = DeclaredLineFilesTap.__qualname__ = f"Tap{fmt.name.title().replace('_', '')}"
    return DeclaredLineFilesTap


def run(source: str) -> None:
    """Load taps/<source>.yml (format: line_files) and hand over to singer-sdk's command line."""
    try:
        fmt = load_line_format(find_declaration(source))
    except PonteError as exc:
        print(f"tap-{source}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    if warning := misnamed_level_warning(f"tap-{source}"):
        print(warning, file=sys.stderr)
    logging.getLogger("ponte.linefiles").setLevel(plugin_log_level(f"tap-{source}"))
    build_tap_class(fmt).cli()


def main() -> None:
    """Console script `tap-keyence`."""
    run("keyence")
