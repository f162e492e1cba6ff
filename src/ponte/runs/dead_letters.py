"""The dead-letter operations `ponte dlq` and the panel's /rejeitados share: open the store from settings, edit a
record, discard, choose letters to replay, write them as Singer messages, and replay them through their target
(`meltano invoke target-…`, marking them replayed when it succeeds). One piece of code per operation, so the
command line and the browser cannot drift apart."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.console_scripts import console_script
from ponte.core.errors import ConfigError
from ponte.runlog.dead_letters import DeadLetter, DeadLetterStore, LetterFilter, build_dead_letter_store
from ponte.runlog.report import RUN_ID_ENV
from ponte.targets.postgres.settings import build_conninfo

REPLAY_TIMEOUT_SECONDS = 600
STORE_SETTINGS = ("PONTE_DLQ_STORE", "PONTE_DLQ_DSN", "PONTE_DLQ_SCHEMA")


def open_store(
    store_spec: str | None, dsn: str | None, schema: str | None, *, base: Path | None = None, who: str = "ponte dlq"
) -> DeadLetterStore:
    """The store `file:PATH` (relative to `base`) or the `<schema>.dead_letters` table at `dsn` names."""
    if store_spec and dsn:
        raise ConfigError("give either --store file:PATH or --dsn, not both")
    if store_spec:
        kind, _, path = store_spec.partition(":")
        if kind != "file" or not path:
            raise ConfigError(f"--store must look like file:PATH, got {store_spec!r}")
        return build_dead_letter_store({"type": "file", "path": str(base / path) if base else path})
    if dsn:
        conninfo = build_conninfo({"dsn": dsn}, application_name=who)
        return build_dead_letter_store({"type": "postgres", "dsn": conninfo, "schema": schema or "ponte"})
    raise ConfigError("no dead-letter store configured: pass --store file:PATH or --dsn DSN (or set PONTE_DLQ_STORE "
                      "/ PONTE_DLQ_DSN)")  # fmt: skip


def store_settings(env: Mapping[str, str], default_dsn: str | None) -> tuple[str | None, str | None, str]:
    """(PONTE_DLQ_STORE, PONTE_DLQ_DSN or `default_dsn`, PONTE_DLQ_SCHEMA or `ponte`): the variables `ponte dlq`
    reads. The schema is target-postgres's log_schema: its `sync_runs` sits beside the letters."""
    spec = (env.get("PONTE_DLQ_STORE") or "").strip() or None
    dsn = (env.get("PONTE_DLQ_DSN") or "").strip() or default_dsn
    return spec, dsn, (env.get("PONTE_DLQ_SCHEMA") or "").strip() or "ponte"


def store_from_settings(env: Mapping[str, str], default_dsn: str | None, project: Path) -> DeadLetterStore:
    """The service's store: PONTE_DLQ_STORE (file:PATH, relative to the project), else the table at PONTE_DLQ_DSN
    or the service's own database."""
    spec, dsn, schema = store_settings(env, default_dsn)
    return open_store(spec, None if spec else dsn, schema, base=project, who="ponte serve")


def parse_record(text: str) -> dict[str, Any]:
    """An edited record: a JSON object (ConfigError otherwise, saying where the JSON broke)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"the record is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError("the record must be a JSON object ({...})")
    return value


def assign(record: Mapping[str, Any], assignments: Iterable[str], removals: Iterable[str]) -> dict[str, Any]:
    """`FIELD=JSON` assignments (a bare word is a string) and removed fields applied to a copy of `record`."""
    changed = dict(record)
    for assignment in assignments:
        name, sep, raw = assignment.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set expects FIELD=JSON, got {assignment!r}")
        try:
            changed[name] = json.loads(raw)
        except ValueError:
            changed[name] = raw
    for name in removals:
        changed.pop(name, None)
    return changed


def edit(store: DeadLetterStore, letter_id: int, record: Mapping[str, Any]) -> DeadLetter:
    """Replace an open letter's record (the operator fixed its data); a replayed or discarded one stays as it was."""
    letter = store.get(letter_id)
    if letter.status != "open":
        raise ConfigError(f"dead letter {letter_id} is {letter.status}, not open: it cannot be edited")
    store.update_record(letter_id, dict(record))
    return store.get(letter_id)


def discard(store: DeadLetterStore, letter_ids: Iterable[int]) -> int:
    """Mark letters discarded: they will not be replayed. Returns how many."""
    return store.mark(list(letter_ids), "discarded")


def chosen(
    store: DeadLetterStore, letter_ids: Iterable[int], *, all_open: bool, target: str, stream: str | None = None
) -> list[DeadLetter]:
    """The letters to replay: the given ids (each open and of `target`) or every open letter of `target`."""
    ids = list(letter_ids)
    if bool(ids) == all_open:
        raise ConfigError("give dead-letter ids or --all-open (not both)")
    if all_open:
        return store.list(target=target, stream=stream, status="open", limit=None)
    letters = [store.get(letter_id) for letter_id in ids]
    for letter in letters:
        if letter.target != target:
            raise ConfigError(f"dead letter {letter.id} belongs to target '{letter.target}', not '{target}'")
        if letter.status != "open":
            raise ConfigError(f"dead letter {letter.id} is {letter.status}, not open")
    return letters


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


def singer_messages(
    letters: list[DeadLetter], keys: Iterable[str] = (), schema: Mapping[str, Any] | None = None
) -> Iterator[str]:
    """A SCHEMA per stream (`schema`, else one inferred from the records), then a RECORD per letter; one JSON line
    each. No keys: target-postgres merges on the table's primary key."""
    by_stream: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_stream.setdefault(letter.stream, []).append(letter)
    for name, group in by_stream.items():
        stream_schema = schema or permissive_schema([letter.record for letter in group])
        yield json.dumps({"type": "SCHEMA", "stream": name, "schema": stream_schema, "key_properties": list(keys)},
                         ensure_ascii=False) + "\n"  # fmt: skip
        for letter in group:
            yield json.dumps({"type": "RECORD", "stream": name, "record": letter.record}, ensure_ascii=False,
                             default=str) + "\n"  # fmt: skip


def loader_plugin(target: str) -> str:
    """The Meltano plugin of a letter's target: rows target-postgres wrote say `postgres`, API targets their plugin."""
    return target if target.startswith("target-") else f"target-{target}"


def _target_env(letters: list[DeadLetter]) -> dict[str, str]:
    """target-postgres's tables are `<schema>.<table>` in its letters: load them back into that schema (run alone,
    the loader has no extractor whose load_schema would name it)."""
    schemas = {letter.entity.split(".", 1)[0] for letter in letters if letter.entity and "." in letter.entity}
    if len(schemas) > 1:
        raise ConfigError(f"these letters belong to tables of {len(schemas)} schemas ({', '.join(sorted(schemas))}); "
                          "replay each schema's letters on their own")  # fmt: skip
    return {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schemas.pop()} if schemas else {}


@dataclass
class ReplayOutcome:
    """What a replay through the target did: letters sent and marked, the target's exit code and last lines,
    and the letters the target refused again (new open letters of the replay's run id)."""

    sent: int
    marked: int
    exit_code: int
    run_id: str
    output: list[str] = field(default_factory=list)
    refused_again: list[DeadLetter] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def replay_through_target(
    store: DeadLetterStore,
    letters: list[DeadLetter],
    project: Path,
    env: Mapping[str, str],
    *,
    keys: Iterable[str] = (),
    schema: Mapping[str, Any] | None = None,
    environment: str | None = None,
) -> ReplayOutcome:
    """Send the letters' records to their target (`meltano invoke target-…` in `project`, under a run id of its
    own) and mark them replayed when it exits 0. A record the target refuses again becomes a new open letter."""
    if not letters:
        raise ConfigError("no open dead letters to replay")
    targets = {letter.target for letter in letters}
    if len(targets) > 1:
        raise ConfigError(f"these letters belong to {len(targets)} targets; replay each target's letters on their own")
    run_id = str(uuid.uuid4())
    command = [console_script("meltano")]
    if environment:
        command.append(f"--environment={environment}")
    command += ["invoke", loader_plugin(targets.pop())]
    child_env = {**env, **_target_env(letters), RUN_ID_ENV: run_id}
    try:
        done = subprocess.run(command, cwd=project, env=child_env, input="".join(singer_messages(letters, keys, schema)),
                              capture_output=True, text=True, timeout=REPLAY_TIMEOUT_SECONDS, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run {' '.join(command[1:])}: {exc}") from None
    lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
    marked = (
        store.mark([letter.id for letter in letters if letter.id is not None], "replayed")
        if done.returncode == 0
        else 0
    )
    again = store.list(status="open", run_id=run_id, limit=None)
    return ReplayOutcome(len(letters), marked, done.returncode, run_id, lines[-20:], again)


def page(store: DeadLetterStore, wanted: LetterFilter, limit: int = 50) -> tuple[list[DeadLetter], int | None]:
    """A page of letters, newest first, and the id the next (older) page starts before (None: the last page)."""
    found = store.page(wanted, limit + 1)
    return found[:limit], (found[limit - 1].id if len(found) > limit else None)
