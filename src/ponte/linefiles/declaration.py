"""The `format: line_files` declaration (taps/keyence.yml): what the reader and the tap are built from.

`check_line_files` holds what JSON Schema cannot say (names that collide, a timestamp format that cannot
round-trip, counters naming columns that do not exist); `ponte validate` and every load run it. `LineFormat`
is the validated declaration as the reader uses it, with the `file_glob` setting applied.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ponte.core.errors import SpecError
from ponte.declaration.declaration_paths import declaration_path
from ponte.declaration.locate import spec_error
from ponte.declaration.schema_errors import short
from ponte.declaration.tap_checks import check_settings
from ponte.declaration.validation import load_declaration, register_semantic_check
from ponte.declaration.yaml_loader import LoadedYaml

RESERVED_PREFIXES = ("_file_", "_sdc_")
DATE_CODES = set("YmdyjbBaAUWGuV")
SAMPLE_MOMENT = dt.datetime(2026, 11, 23, 14, 3, 7, 250000)


@dataclass(frozen=True)
class Column:
    """One field of a line."""

    name: str
    type: str
    format: str | None = None
    prefix: str | None = None
    decimal_separator: str = "."
    nullable: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Counters:
    """The counters section: which columns the view of accumulated counts reads."""

    view: str
    read_at: str
    order: str
    line: str
    sensor: str
    produced: str
    rejected: str
    active_view: str = ""
    mode: str = "cumulative"
    resets_on_order_change: bool = False
    active_minutes: int = 15


@dataclass(frozen=True)
class LineFormat:
    """A validated line-files declaration."""

    name: str
    description: str
    glob: str
    encoding: str
    header_lines: int
    delimiter: str
    timezone: dt.tzinfo
    columns: tuple[Column, ...]
    lines_stream: str
    rejects_stream: str
    counters: Counters | None
    settings: tuple[dict[str, Any], ...]
    file: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, file: str = "", glob: str | None = None) -> LineFormat:
        """Build from a schema-valid, checked declaration; `glob` (the file_glob setting) overrides files.glob."""
        files, lines = data["files"], data["lines"]
        counters = data.get("counters")
        return cls(
            name=data["name"],
            description=data.get("description", ""),
            glob=glob or files["glob"],
            encoding=files.get("encoding", "utf-8"),
            header_lines=int(files.get("header_lines", 0)),
            delimiter=lines["delimiter"],
            timezone=ZoneInfo(lines["timezone"]) if lines.get("timezone") else dt.UTC,
            columns=tuple(Column(**column) for column in lines["columns"]),
            lines_stream=data["streams"]["lines"],
            rejects_stream=data["streams"]["rejects"],
            counters=Counters(**{"active_view": f"{counters['view']}_ativas", **counters}) if counters else None,
            settings=tuple(data.get("settings") or ()),
            file=file,
        )

    def column(self, name: str) -> Column:
        """The column called `name`."""
        return next(c for c in self.columns if c.name == name)


def find_declaration(source: str) -> Path:
    """`taps/<source>.yml`, looked up like every declaration (`ponte.declaration.declaration_paths`)."""
    return declaration_path(source, "taps")


def load_line_format(path: str | Path, *, glob: str | None = None, display_name: str | None = None) -> LineFormat:
    """Load, validate and check `path`, which must declare `format: line_files`."""
    declaration = load_declaration(path, "tap", display_name=display_name)
    if declaration.kind != "line_files":
        raise SpecError(
            "this is a REST tap declaration; a line-files tap needs `format: line_files` at the top",
            file=declaration.file,
            line=1,
            column=1,
        )
    return LineFormat.from_data(declaration.data, file=declaration.file, glob=glob)


# -- checks ---------------------------------------------------------------------------------------------------


def check_line_files(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> Iterator[SpecError]:
    """Every semantic problem of a schema-valid line-files declaration."""
    del base_dir  # nothing is read from other files
    yield from check_settings(data, loaded)
    settings = {s["name"]: s for s in data.get("settings") or []}
    if not settings.get("folder", {}).get("required"):
        where = ("settings", list(settings).index("folder")) if "folder" in settings else ("settings",)
        yield spec_error(
            loaded, where, "declare a setting `folder` (kind string, required: true): the folder the files are in"
        )
    encoding = data["files"].get("encoding", "utf-8")
    try:
        codecs.lookup(encoding)
        ascii_newline = "\n".encode(encoding) == b"\n"
    except LookupError:
        yield spec_error(loaded, ("files", "encoding"), f"unknown encoding {short(encoding)}; e.g. utf-8, latin-1")
    else:
        if not ascii_newline:
            yield spec_error(
                loaded,
                ("files", "encoding"),
                f"{short(encoding)} does not write a newline as one byte 0x0A; "
                "use an ASCII-compatible encoding (utf-8, latin-1, cp1252)",
            )
    zone = data["lines"].get("timezone")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield spec_error(
                loaded,
                ("lines", "timezone"),
                f"unknown time zone {short(zone)}; use an IANA name like America/Sao_Paulo",
            )
    yield from _check_columns(data["lines"]["columns"], loaded)
    streams = data["streams"]
    if streams["lines"] == streams["rejects"]:
        yield spec_error(loaded, ("streams", "rejects"), "must differ from streams.lines (they are two tables)")
    if data.get("counters"):
        yield from _check_counters(data, loaded)


def _check_columns(columns: list[dict[str, Any]], loaded: LoadedYaml) -> Iterator[SpecError]:
    seen: dict[str, int] = {}
    for index, column in enumerate(columns):
        where = ("lines", "columns", index)
        name, kind = column["name"], column["type"]
        if name in seen:
            line = (loaded.value_position(("lines", "columns", seen[name])) or ("?",))[0]
            yield spec_error(loaded, (*where, "name"), f"column '{name}' is already declared on line {line}")
        seen.setdefault(name, index)
        if name.startswith(RESERVED_PREFIXES):
            yield spec_error(
                loaded, (*where, "name"), f"names starting with {' or '.join(RESERVED_PREFIXES)} are reserved"
            )
        if "format" in column and kind not in ("timestamp", "date"):
            yield spec_error(loaded, (*where, "format"), f"only timestamp and date columns have a format, not {kind}")
        if "decimal_separator" in column and kind != "number":
            yield spec_error(loaded, (*where, "decimal_separator"), f"only number columns have one, not {kind}")
        if column.get("format") and kind in ("timestamp", "date"):
            problem = _format_problem(column["format"], kind)
            if problem:
                yield spec_error(loaded, (*where, "format"), problem)


def _format_problem(layout: str, kind: str) -> str | None:
    """Why a strptime layout cannot read back what it writes, or None."""
    try:
        text = SAMPLE_MOMENT.strftime(layout)
        parsed = dt.datetime.strptime(text, layout)
    except ValueError as exc:
        return f"{short(layout)} is not a usable strptime layout ({exc})"
    codes = {layout[i + 1] for i in range(len(layout) - 1) if layout[i] == "%"}
    if not codes & DATE_CODES:
        return f"{short(layout)} has no date part (%Y, %m, %d …)"
    if kind == "timestamp" and parsed.date() != SAMPLE_MOMENT.date():
        return f"{short(layout)} does not read back the date it writes"
    return None


def _check_counters(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    counters = data["counters"]
    columns = {c["name"]: c["type"] for c in data["lines"]["columns"]}
    wanted = {
        "read_at": ("timestamp",),
        "order": ("string", "integer"),
        "line": ("string", "integer"),
        "sensor": ("string", "integer"),
        "produced": ("integer", "number"),
        "rejected": ("integer", "number"),
    }
    for role, types in wanted.items():
        name = counters[role]
        if name not in columns:
            yield spec_error(
                loaded, ("counters", role), f"no column '{name}' in lines.columns; declared: {', '.join(columns)}"
            )
        elif columns[name] not in types:
            yield spec_error(
                loaded, ("counters", role), f"column '{name}' is {columns[name]}, expected {' or '.join(types)}"
            )
    taken = {data["streams"]["lines"], data["streams"]["rejects"]}
    for key in ("view", "active_view"):
        if counters.get(key) in taken:
            yield spec_error(loaded, ("counters", key), "must differ from the stream (table) names and the other view")
        taken.add(counters.get(key, f"{counters['view']}_ativas"))


register_semantic_check("line_files", check_line_files)
