"""A target declaration resolved against the user's config: entities in sending order, with numbers, not templates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ponte.core.errors import ConfigError
from ponte.declaration.records import dig
from ponte.declaration.target_checks import load_payload_schema
from ponte.declaration.templates import references, render

DEFAULT_KEY_PATTERNS = (r"^{wrapper}\.(?P<index>\d+)\.(?P<field>.+)$", r"^(?P<index>\d+)$")


@dataclass(frozen=True)
class RecordErrors:
    """Where a response names the records the API refused."""

    statuses: tuple[int, ...] = (422,)
    errors_field: str = "errors"
    partial_field: str | None = None
    key_patterns: tuple[re.Pattern[str], ...] = ()
    unnamed: str = "split"
    message_fields: tuple[str, ...] = ()  # the API's own words for a refusal naming no field (TOTVS: message, ...)


MESSAGE_FIELDS = ("errors", "message", "error", "detail")


@dataclass(frozen=True)
class JobDef:
    """How an asynchronous entity's jobs are followed (paths are dotted).

    Where an API's docs leave a choice open, several answers are accepted: the status URL comes from the 202's
    `Location` header, else `status_url_field`, else `status_path`; job-level and per-item messages are read
    from the first of several fields that holds one.
    """

    id_field: str
    state_field: str
    success_states: tuple[str, ...]
    failure_states: tuple[str, ...]
    status_path: str | None = None
    status_url_field: str | None = None
    pending_states: tuple[str, ...] = ()
    succeeded_field: str | None = None
    failed_field: str | None = None
    error_fields: tuple[str, ...] = ("error", "message", "detail")
    item_errors_field: str | None = None
    item_index_field: str | None = None
    item_key_field: str | None = None
    item_message_fields: tuple[str, ...] = MESSAGE_FIELDS
    poll_seconds: float = 5.0
    max_wait_seconds: float = 3600.0
    resubmit_failed: int = 1


@dataclass(frozen=True)
class FindExisting:
    """How to look a record up in the API before posting it (`find_existing`): exactly once on an API that
    would take the same posting twice. `path` and `params` may name the payload's fields as `{{ record.x }}`."""

    path: str
    params: Mapping[str, Any]
    items_field: str | None
    match: tuple[tuple[str, str], ...]  # (field in the API's copy, field of the payload) that must be equal
    id_field: str | None


@dataclass(frozen=True)
class EntityDef:
    """One entity: where and how its records are sent."""

    name: str
    streams: tuple[str, ...]
    path: str
    key: str
    schema: dict[str, Any]
    schema_file: str
    method: str = "POST"
    wrapper: str | None = None
    key_type: str | None = None
    depends_on: tuple[str, ...] = ()
    references: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 100
    parallel: int = 1
    balance_batches: bool = True
    dates: str = "as_is"
    strip_unknown: bool = True
    result: Mapping[str, str] = field(default_factory=dict)
    record_errors: RecordErrors = field(default_factory=RecordErrors)
    job: JobDef | None = None
    keys: tuple[str, ...] = ()
    record_fields: tuple[str, ...] = ()
    send: bool = True
    reason_field: str | None = None
    dry_run_line: str | None = None
    single: bool = False
    find_existing: FindExisting | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    id_field: str | None = None  # where the API's answer holds the id it gave the record (`result.id`)

    def key_of(self, record: Mapping[str, Any]) -> Any:
        """The record's key: its one key field, or the list of several (dotted paths reach into objects)."""
        values = [dig(record, name) for name in self.keys or (self.key,)]
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class HistoryColumn:
    """One declared column of the history table and the record field it is read from."""

    name: str
    source: str
    type: str = "text"


@dataclass(frozen=True)
class HistoryDef:
    """`history:` one row per record (sent, refused, skipped, dry-run) in the run-record schema."""

    table: str
    columns: tuple[HistoryColumn, ...]
    remote_id_column: str | None = None  # filled with the id the API gave (or the one found before posting)


@dataclass(frozen=True)
class TargetDef:
    """The whole target: plugin name, entities in the order they are sent, after-run report."""

    name: str
    spec: Mapping[str, Any]
    base_url: str
    entities: tuple[EntityDef, ...]
    timezone: ZoneInfo
    report: Mapping[str, Any] | None = None
    connection_check: Mapping[str, Any] | None = None
    account_field: str | None = None
    history: HistoryDef | None = None

    @property
    def plugin(self) -> str:
        return f"target-{self.name}"

    @cached_property
    def _by_stream(self) -> dict[str, EntityDef]:
        return {stream: entity for entity in self.entities for stream in entity.streams}

    def entity_for(self, stream: str) -> EntityDef | None:
        """The entity a Singer stream feeds, if any (asked for every record, so looked up, not searched)."""
        return self._by_stream.get(stream)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def build_target_def(spec: Mapping[str, Any], base_dir: Path, config: Mapping[str, Any]) -> TargetDef:
    """Resolve templates and defaults, check the configured numbers against the API's limits, order entities."""
    scope = {"config": config}
    defaults = spec.get("defaults") or {}
    entities = [_entity(spec["name"], {**defaults, **raw}, base_dir, scope) for raw in spec["entities"]]
    return TargetDef(
        name=spec["name"],
        spec=spec,
        base_url=str(render(spec["base_url"], scope)),
        entities=tuple(sending_order(entities)),
        timezone=ZoneInfo(spec.get("timezone") or "UTC"),
        report=spec.get("report"),
        connection_check=spec.get("connection_check"),
        account_field=(spec.get("accounts") or {}).get("field"),
        history=_history(spec.get("history")),
    )


def _history(raw: Mapping[str, Any] | None) -> HistoryDef | None:
    if not raw:
        return None
    columns = tuple(HistoryColumn(n, c["from"], c.get("type") or "text") for n, c in raw["columns"].items())
    return HistoryDef(raw["table"], columns, raw.get("remote_id_column"))


def sending_order(entities: list[EntityDef]) -> list[EntityDef]:
    """Dependencies first; otherwise the declaration's order (the checks already refused cycles)."""
    done: list[EntityDef] = []
    names: set[str] = set()
    pending = list(entities)
    while pending:
        ready = next(e for e in pending if all(d in names or d == e.name for d in e.depends_on))
        pending.remove(ready)
        done.append(ready)
        names.add(ready.name)
    return done


def _number(value: Any, what: str, plugin: str, cast: type = int) -> Any:
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise ConfigError(f"target-{plugin}: {what} must be a number, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"target-{plugin}: {what} must be positive, got {value!r}")
    return number


def _within_limit(
    raw: Mapping[str, Any], values: Mapping[str, Any], key: str, limit_key: str, default: int, plugin: str
) -> int:
    """A configured count (batch size, requests in flight), refused at start when above the API's own limit."""
    name = values["name"]
    number = _number(values.get(key, default), f"entity {name}: {key}", plugin)
    limit = values.get(limit_key)
    if limit and number > limit:
        settings = sorted(references(raw.get(key), "config"))
        where = (
            f"set TARGET_{plugin.upper()}_{settings[0].upper()} to at most {limit}"
            if settings
            else f"lower it in targets/{plugin}.yml"
        )
        raise ConfigError(
            f"target-{plugin}: entity {name}: {key} {number} is above the API's limit of {limit} ({limit_key}); {where}"
        )
    return number


def _entity(plugin: str, raw: Mapping[str, Any], base_dir: Path, scope: Mapping[str, Any]) -> EntityDef:
    # `{{ job.id }}` (in job.status_path) is only known once a job exists: it renders to itself here.
    job_scope = {**scope, "job": {"id": "{{ job.id }}"}}
    # `{{ record.x }}` (in path and find_existing) is rendered per record when sending: kept as is here
    job_scope["record"] = {name: f"{{{{ record.{name} }}}}" for name in references(raw, "record")}
    kept = ("description", "record_errors", "dry_run_line")
    values = render({k: v for k, v in raw.items() if k not in kept}, job_scope)
    name = values["name"]
    batch = _within_limit(raw, values, "batch_size", "max_batch_size", EntityDef.batch_size, plugin)
    parallel = _within_limit(raw, values, "parallel", "max_parallel", EntityDef.parallel, plugin)
    wrapper = values.get("wrapper")
    # keys the declaration leaves out take EntityDef's defaults (the schema states the same, checked by a test)
    given = {k: values[k] for k in ("method", "dates") if k in values}
    given |= {k: bool(values[k]) for k in ("balance_batches", "strip_unknown", "send", "single") if k in values}
    return EntityDef(
        name=name,
        streams=tuple(values.get("streams") or (name,)),
        path=values["path"],
        key=values["primary_key"][0],
        schema=load_payload_schema(base_dir, values["schema"]),
        schema_file=values["schema"],
        wrapper=wrapper,
        key_type=values.get("primary_key_type"),
        depends_on=tuple(values.get("depends_on") or ()),
        references=dict(values.get("references") or {}),
        batch_size=batch,
        parallel=parallel,
        result=dict(values.get("result") or {}),
        record_errors=_record_errors(raw.get("record_errors") or {}, wrapper or name),
        job=_job(values["job"], name, plugin) if values.get("job") else None,
        keys=tuple(values["primary_key"]),
        record_fields=tuple(values.get("record_fields") or ()),
        reason_field=values.get("reason_field"),
        dry_run_line=raw.get("dry_run_line"),
        find_existing=_find_existing(values["find_existing"], values["path"]) if values.get("find_existing") else None,
        id_field=(values.get("result") or {}).get("id"),
        headers={str(k): str(v) for k, v in (values.get("headers") or {}).items()},
        **given,
    )


def _find_existing(raw: Mapping[str, Any], path: str) -> FindExisting:
    return FindExisting(
        path=raw.get("path") or path,
        params=dict(raw.get("params") or {}),
        items_field=raw.get("items_field"),
        match=_pairs(raw.get("match") or ()),
        id_field=raw.get("id_field"),
    )


def _pairs(match: Any) -> tuple[tuple[str, str], ...]:
    """`[documento]` (same name on both sides) or `{d3_doc: D3_DOC}` (the API's name: the payload's)."""
    if isinstance(match, Mapping):
        return tuple((str(k), str(v)) for k, v in match.items())
    return tuple((str(name), str(name)) for name in match)


def _record_errors(raw: Mapping[str, Any], wrapper: str) -> RecordErrors:
    patterns = raw.get("key_patterns") or DEFAULT_KEY_PATTERNS
    given = {k: raw[k] for k in ("errors_field", "partial_field", "unnamed") if k in raw}
    if raw.get("statuses"):
        given["statuses"] = tuple(raw["statuses"])
    if raw.get("message_fields"):
        given["message_fields"] = tuple(raw["message_fields"])
    return RecordErrors(
        key_patterns=tuple(re.compile(p.replace("{wrapper}", re.escape(wrapper))) for p in patterns),
        **given,
    )


def _job(raw: Mapping[str, Any], entity: str, plugin: str) -> JobDef:
    known = {k: v for k, v in raw.items() if k in JobDef.__dataclass_fields__}
    if "error_field" in raw:  # one dotted path or a list of them, tried in order
        paths = raw["error_field"]
        known["error_fields"] = (paths,) if isinstance(paths, str) else paths
    for key in ("success_states", "failure_states", "pending_states", "error_fields", "item_message_fields"):
        if key in known:
            known[key] = tuple(known[key])
    for key in ("poll_seconds", "max_wait_seconds"):
        if key in known:
            known[key] = _number(known[key], f"entity {entity}: {key}", plugin, float)
    return JobDef(**known)
