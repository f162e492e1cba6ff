"""`ponte dlq`: inspect, fix, discard and replay dead letters of every target.

Replay, for now, prints the chosen records as Singer messages (a SCHEMA per stream, then a RECORD per
letter) on stdout, to pipe into a target:

    ponte dlq replay --all-open --target postgres --dsn ... --key id | target-postgres --config cfg.json
    ponte dlq replay 12 13 --target postgres --dsn ... --mark-replayed   # after the pipe succeeded

A later step lets each declarative API target re-send its letters directly.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ponte.core.errors import ConfigError
from ponte.runlog.dead_letters import STATUSES, DeadLetter, DeadLetterStore, build_dead_letter_store
from ponte.targets.postgres.settings import build_conninfo


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--store file:PATH, or --dsn/--schema for the PostgreSQL table (env PONTE_DLQ_STORE / PONTE_DLQ_DSN)."""
    command = click.option("--schema", default="ponte", show_default=True, envvar="PONTE_DLQ_SCHEMA",
                           help="Schema of the dead_letters table (target-postgres's log_schema).")(command)  # fmt: skip
    command = click.option("--dsn", envvar="PONTE_DLQ_DSN", help="PostgreSQL DSN of the dead_letters table.")(command)
    return click.option("--store", "store_spec", envvar="PONTE_DLQ_STORE", metavar="file:PATH",
                        help="A JSON Lines dead-letter file instead of PostgreSQL.")(command)  # fmt: skip


def open_store(store_spec: str | None, dsn: str | None, schema: str) -> DeadLetterStore:
    if store_spec and dsn:
        raise ConfigError("give either --store file:PATH or --dsn, not both")
    if store_spec:
        kind, _, path = store_spec.partition(":")
        if kind != "file" or not path:
            raise ConfigError(f"--store must look like file:PATH, got {store_spec!r}")
        return build_dead_letter_store({"type": "file", "path": path})
    if dsn:

        return build_dead_letter_store(
            {"type": "postgres", "dsn": build_conninfo({"dsn": dsn}, application_name="ponte dlq"), "schema": schema}
        )
    raise ConfigError("no dead-letter store configured: pass --store file:PATH or --dsn DSN (or set PONTE_DLQ_STORE "
                      "/ PONTE_DLQ_DSN)")  # fmt: skip


def _short(text: str, width: int | None) -> str:
    text = " ".join(text.split())
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _table(letters: list[DeadLetter], width: int | None) -> str:
    """One line per letter. The reason (cause first: the API's own words) fills the rest of a terminal of
    `width` columns, at least 40; with no width (piped output) it is never cut."""
    header = ("ID", "TIME", "STATUS", "TARGET", "STREAM/ENTITY", "REASON")
    rows = [
        (
            str(letter.id),
            letter.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.status,
            letter.target,
            letter.stream
            if not letter.entity or letter.entity == letter.stream
            else f"{letter.stream}/{letter.entity}",
            letter.reason,
        )
        for letter in letters
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    room = None if width is None else max(width - sum(w + 2 for w in widths), 40)
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + _short(row[-1], room)
        for row in [header, *rows]
    )


def _screen_width() -> int | None:
    """The terminal's width when printing to one; None when piped (a file or grep gets whole reasons)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@click.group()
def dlq() -> None:
    """Dead letters: records a target rejected. List, show, fix, discard and replay them."""


@dlq.command("list")
@store_options
@click.option("--target", help="Only letters of this target (target-postgres's rows are 'postgres').")
@click.option("--stream", help="Only letters of this stream.")
@click.option("--status", type=click.Choice([*STATUSES, "all"]), default="open", show_default=True)
@click.option("--run", "run_id", help="Only letters of this run id.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def list_letters(store_spec, dsn, schema, target, stream, status, run_id, limit, as_json) -> None:
    """List dead letters, oldest first; each reason starts with its cause (cut to the screen, whole when piped)."""
    with open_store(store_spec, dsn, schema) as store:
        letters = store.list(target=target, stream=stream, status=status, run_id=run_id, limit=limit)
    if as_json:
        for letter in letters:
            click.echo(json.dumps(letter.to_json(), ensure_ascii=False, default=str))
    elif letters:
        click.echo(_table(letters, _screen_width()))
    else:
        click.echo("no dead letters match", err=True)


@dlq.command("show")
@store_options
@click.argument("letter_id", type=int)
def show(store_spec, dsn, schema, letter_id) -> None:
    """Print one letter: where it came from, why it was rejected, its record and the API response."""
    with open_store(store_spec, dsn, schema) as store:
        letter = store.get(letter_id)
    click.echo(f"id:       {letter.id}")
    click.echo(f"status:   {letter.status}")
    click.echo(f"time:     {letter.created_at.isoformat()}")
    click.echo(f"target:   {letter.target}")
    click.echo(f"stream:   {letter.stream}")
    click.echo(f"entity:   {letter.entity or '-'}")
    click.echo(f"run:      {letter.run_id or '-'}")
    click.echo(f"reason:   {letter.reason}")
    click.echo("record:")
    click.echo(_dump(letter.record))
    click.echo("api response:")
    click.echo(_dump(letter.api_response) if letter.api_response is not None else "-")


@dlq.command("edit")
@store_options
@click.argument("letter_id", type=int)
@click.option("--set", "assignments", multiple=True, required=True, metavar="FIELD=JSON",
              help="Set a field of the record to a JSON value (a bare word is taken as a string); repeatable.")  # fmt: skip
@click.option("--unset", "removals", multiple=True, metavar="FIELD", help="Remove a field from the record.")
def edit(store_spec, dsn, schema, letter_id, assignments, removals) -> None:
    """Fix a letter's record before replaying it."""
    with open_store(store_spec, dsn, schema) as store:
        record = dict(store.get(letter_id).record)
        for assignment in assignments:
            name, sep, raw = assignment.partition("=")
            if not sep or not name:
                raise ConfigError(f"--set expects FIELD=JSON, got {assignment!r}")
            try:
                record[name] = json.loads(raw)
            except ValueError:
                record[name] = raw
        for name in removals:
            record.pop(name, None)
        store.update_record(letter_id, record)
    click.echo(_dump(record))


@dlq.command("discard")
@store_options
@click.argument("letter_ids", type=int, nargs=-1, required=True)
def discard(store_spec, dsn, schema, letter_ids) -> None:
    """Mark letters discarded: they will not be replayed."""
    with open_store(store_spec, dsn, schema) as store:
        count = store.mark(letter_ids, "discarded")
    click.echo(f"discarded {count} dead letter(s)", err=True)


def _json_type(values: list[Any]) -> dict[str, Any]:
    kinds: set[str] = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        elif isinstance(value, dict):
            kinds.add("object")
        else:
            kinds.add("array")
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) != 1:
        return {}
    return {"type": [kinds.pop(), "null"]}


def permissive_schema(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A schema that accepts the records: each field typed by its JSON values (nullable), mixed ones untyped."""
    names: dict[str, list[Any]] = {}
    for record in records:
        for name, value in record.items():
            names.setdefault(name, []).append(value)
    return {"type": "object", "properties": {name: _json_type(values) for name, values in names.items()},
            "additionalProperties": True}  # fmt: skip


@dlq.command("replay")
@store_options
@click.argument("letter_ids", type=int, nargs=-1)
@click.option("--all-open", is_flag=True, help="Every open letter of --target (and --stream).")
@click.option("--target", required=True, help="The target whose letters are replayed ('postgres' for target-postgres).")
@click.option("--stream", help="With --all-open: only this stream.")
@click.option("--key", "keys", multiple=True, help="key_properties of the SCHEMA message (repeatable).")
@click.option("--schema-file", type=click.Path(exists=True, dir_okay=False),
              help="JSON Schema for the stream instead of one inferred from the records.")  # fmt: skip
@click.option("--mark-replayed", is_flag=True,
              help="Print nothing; mark the letters replayed (run after the pipe into the target succeeded).")  # fmt: skip
def replay(store_spec, dsn, schema, letter_ids, all_open, target, stream, keys, schema_file, mark_replayed) -> None:
    """Print letters as Singer messages on stdout, to pipe into a target; then --mark-replayed."""
    if bool(letter_ids) == all_open:
        raise ConfigError("give dead-letter ids or --all-open (not both)")
    with open_store(store_spec, dsn, schema) as store:
        if all_open:
            letters = store.list(target=target, stream=stream, status="open", limit=None)
        else:
            letters = [store.get(letter_id) for letter_id in letter_ids]
            for letter in letters:
                if letter.target != target:
                    raise ConfigError(f"dead letter {letter.id} belongs to target '{letter.target}', not '{target}'")
                if letter.status != "open":
                    raise ConfigError(f"dead letter {letter.id} is {letter.status}, not open")
        if mark_replayed:
            count = store.mark([letter.id for letter in letters if letter.id is not None], "replayed") if letters else 0
            click.echo(f"marked {count} dead letter(s) replayed", err=True)
            return
    given = json.loads(Path(schema_file).read_text(encoding="utf-8")) if schema_file else None
    by_stream: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_stream.setdefault(letter.stream, []).append(letter)
    out = sys.stdout
    for name, group in by_stream.items():
        stream_schema = given or permissive_schema([letter.record for letter in group])
        out.write(json.dumps({"type": "SCHEMA", "stream": name, "schema": stream_schema,
                              "key_properties": list(keys)}, ensure_ascii=False) + "\n")  # fmt: skip
        for letter in group:
            out.write(json.dumps({"type": "RECORD", "stream": name, "record": letter.record}, ensure_ascii=False,
                                 default=str) + "\n")  # fmt: skip
    out.flush()
    click.echo(f"printed {len(letters)} record(s); after the target succeeded, run the same command with "
               "--mark-replayed", err=True)  # fmt: skip
