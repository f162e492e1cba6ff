"""`ponte dlq`: inspect, fix, discard and replay dead letters of every target.

Replay prints the chosen records as Singer messages (a SCHEMA per stream, then a RECORD per letter) on stdout,
to pipe into a target, or sends them through the target itself as the panel's "Reenviar" does:

    ponte dlq replay --all-open --target postgres --dsn ... --key id | target-postgres --config cfg.json
    ponte dlq replay 12 13 --target postgres --dsn ... --mark-replayed   # after the pipe succeeded
    ponte dlq replay 12 13 --target postgres --dsn ... --through-target  # meltano invoke target-postgres, then mark

The operations live in `ponte.runs.dead_letters`, shared with the panel.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ponte.core.errors import ConfigError
from ponte.project.meltano_config import find_project
from ponte.runlog.dead_letters import STATUSES, DeadLetter
from ponte.runs import dead_letters as operations
from ponte.runs.dead_letters import open_store


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--store file:PATH, or --dsn/--schema for the PostgreSQL table (env PONTE_DLQ_STORE / PONTE_DLQ_DSN)."""
    command = click.option("--schema", default="ponte", show_default=True, envvar="PONTE_DLQ_SCHEMA",
                           help="Schema of the dead_letters table (target-postgres's log_schema).")(command)  # fmt: skip
    command = click.option("--dsn", envvar="PONTE_DLQ_DSN", help="PostgreSQL DSN of the dead_letters table.")(command)
    return click.option("--store", "store_spec", envvar="PONTE_DLQ_STORE", metavar="file:PATH",
                        help="A JSON Lines dead-letter file instead of PostgreSQL.")(command)  # fmt: skip


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
        record = operations.edit(
            store, letter_id, operations.assign(store.get(letter_id).record, assignments, removals)
        ).record
    click.echo(_dump(record))


@dlq.command("discard")
@store_options
@click.argument("letter_ids", type=int, nargs=-1, required=True)
def discard(store_spec, dsn, schema, letter_ids) -> None:
    """Mark letters discarded: they will not be replayed."""
    with open_store(store_spec, dsn, schema) as store:
        count = operations.discard(store, letter_ids)
    click.echo(f"discarded {count} dead letter(s)", err=True)


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
@click.option("--through-target", is_flag=True,
              help="Send them to the target (`meltano invoke target-…` in this Meltano project) and mark them "
                   "replayed when it succeeds, instead of printing.")  # fmt: skip
def replay(store_spec, dsn, schema, letter_ids, all_open, target, stream, keys, schema_file, mark_replayed,
           through_target) -> None:  # fmt: skip
    """Print letters as Singer messages on stdout, to pipe into a target, then --mark-replayed; or --through-target."""
    given = json.loads(Path(schema_file).read_text(encoding="utf-8")) if schema_file else None
    with open_store(store_spec, dsn, schema) as store:
        letters = operations.chosen(store, letter_ids, all_open=all_open, target=target, stream=stream)
        if mark_replayed:
            count = store.mark([letter.id for letter in letters if letter.id is not None], "replayed") if letters else 0
            click.echo(f"marked {count} dead letter(s) replayed", err=True)
            return
        if through_target:
            project = find_project(Path.cwd())
            if project is None:
                raise ConfigError("--through-target runs the target with Meltano: run it inside a Meltano project")
            outcome = operations.replay_through_target(store, letters, project, dict(os.environ), keys=keys,
                                                       schema=given)  # fmt: skip
            for line in outcome.output if not outcome.ok else []:
                click.echo(line, err=True)
            if not outcome.ok:
                raise ConfigError(f"the target exited {outcome.exit_code}; no dead letter was marked replayed")
            click.echo(f"replayed {outcome.marked} dead letter(s) through {operations.loader_plugin(target)}", err=True)
            for letter in outcome.refused_again:
                click.echo(f"refused again: new dead letter {letter.id}: {letter.reason}", err=True)
            return
    out = sys.stdout
    for line in operations.singer_messages(letters, keys, given):
        out.write(line)
    out.flush()
    click.echo(f"printed {len(letters)} record(s); after the target succeeded, run the same command with "
               "--mark-replayed", err=True)  # fmt: skip
