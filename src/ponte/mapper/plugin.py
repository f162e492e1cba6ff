"""`ponte-mapper`: the Singer mapper that runs a mapping declaration between a tap and a target.

Meltano runs it as a mapper plugin (`meltano run tap-bling bling-to-retailportal target-retailportal`); by hand
it is `tap-x | ponte-mapper --config config.json | target-y`. Config: `mapping` (path of the YAML, relative to
the working directory, then to the project root) and optional `dead_letters` (`{type: file, path}` or
`{type: postgres, dsn}`): with it a record whose mapping fails is kept there and the run goes on; without it
the run stops with a message naming the file, stream, record key and field.

Message flow:
- SCHEMA of a mapped stream → the fields it reads are checked against it, then one SCHEMA per output stream.
- RECORD → filtered and mapped by each mapping of its stream. Ungrouped output is written at once; grouped
  output (`group_by`) waits in a SQLite file and is written, one record per group, when the input ends.
- STATE → passed through unchanged after the records before it. When the mapping has grouped output, those
  records are only written at the end, so STATE is held too and the last one is written after the groups:
  a target never acknowledges state for records it has not received.
- Streams no mapping reads are dropped (logged once each). ACTIVATE_VERSION is dropped: output streams are
  assembled from several sources, so the source's table versions say nothing about them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import singer_sdk.singerlib as singer
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.mapper_base import InlineMapper

from ponte.core.errors import ConfigError, DataError, PonteError
from ponte.declaration.declaration_paths import declaration_file
from ponte.declaration.settings_schema import settings_jsonschema
from ponte.mapper.declaration import MappingFile, MappingRule, load_mapping
from ponte.mapper.derive import DeriveRule
from ponte.mapper.expressions import ExpressionError
from ponte.mapper.fields import FieldError, FieldRule
from ponte.mapper.group_store import GroupStore
from ponte.runlog.dead_letters import (
    DEAD_LETTER_SETTINGS,
    DeadLetter,
    DeadLetterStore,
    dead_letter_store_from_settings,
)
from ponte.runlog.report import launcher_run_id

NAME = "ponte-mapper"

# The dead-letter settings every plugin has; without a store, a record whose mapping fails stops the run.
MAPPER_DEAD_LETTER_SETTINGS = tuple(
    {**s, "default": "none", "description": s["description"] + " Default none: such a record stops the run."}
    if s["name"] == "dead_letter_store"
    else s
    for s in DEAD_LETTER_SETTINGS
)


def merge_schemas(*schemas: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema object with every property and required name of `schemas`."""
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for schema in schemas:
        merged["properties"].update(schema.get("properties") or {})
        merged["required"] += [n for n in schema.get("required") or [] if n not in merged["required"]]
    return merged


def dead_letter_config(config: dict[str, Any], logger: Any) -> dict[str, Any]:
    """The config with the deprecated `dead_letters` object turned into the `dead_letter_*` settings (warned)."""
    old = config.get("dead_letters")
    if not old or (config.get("dead_letter_store") or "none") != "none":  # the new settings win
        return dict(config)
    logger.warning("%s: setting dead_letters is deprecated; set dead_letter_store, dead_letter_path, dead_letter_dsn "
                   "and dead_letter_schema (PONTE_MAPPER_DEAD_LETTER_*) instead", NAME)  # fmt: skip
    renamed = {
        "type": "dead_letter_store",
        "path": "dead_letter_path",
        "dsn": "dead_letter_dsn",
        "schema": "dead_letter_schema",
    }
    return {**config, **{new: old[key] for key, new in renamed.items() if old.get(key)}}


def mapping_path(configured: str) -> Path:
    """The mapping file: as given, else under $MELTANO_PROJECT_ROOT, else among the declarations of the
    `transforms` kind (`$PONTE_TRANSFORMS_DIR`, the checkout's, the package's), a leading `transforms/` dropped.
    """
    path = Path(configured)
    if path.is_absolute() or path.exists():
        return path
    root = os.environ.get("MELTANO_PROJECT_ROOT")
    if root and (Path(root) / path).exists():
        return Path(root) / path
    inside = Path(*path.parts[1:]) if path.parts[:1] == ("transforms",) and len(path.parts) > 1 else path
    found = declaration_file(inside, "transforms")
    return found if found.is_file() else path


def mapping_params(defaults: dict[str, Any], given: Any) -> dict[str, Any]:
    """The declared params' defaults, overridden by the config's `params` (values written as JSON are parsed)."""
    if isinstance(given, str):
        given = json.loads(given) if given.strip() else {}
    params = dict(defaults)
    for name, value in (given or {}).items():
        if value in (None, ""):  # an unset environment variable: the default stands
            continue
        if name not in defaults:
            raise ConfigError(f"{NAME}: params.{name} is not declared in the mapping's params ({', '.join(defaults)})")
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConfigError(f"{NAME}: params.{name} is not valid JSON") from None
        params[name] = value
    return params


class PonteMapper(InlineMapper):
    """Map the streams of a tap to the entities of a target, as a mapping declaration says."""

    name = NAME
    capabilities: ClassVar[list[CapabilitiesEnum]] = [PluginCapabilities.ABOUT]
    config_jsonschema: ClassVar[dict[str, Any]] = merge_schemas(
        th.PropertiesList(
            th.Property(
                "mapping",
                th.StringType,
                required=True,
                description="Mapping declaration to run, e.g. transforms/bling-to-retailportal.yml.",
            ),
            th.Property(
                "params",
                th.ObjectType(),
                description="Values of the mapping's `params` (JSON object; a value may be JSON text), over its defaults.",
            ),
            th.Property(
                "dead_letters",
                th.ObjectType(),
                description="Deprecated (one release): {type, path, dsn, schema}; use the dead_letter_* settings.",
            ),
        ).to_dict(),
        settings_jsonschema(MAPPER_DEAD_LETTER_SETTINGS),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        configured = self.config.get("mapping")
        if not configured:
            raise ConfigError(f"{NAME}: set `mapping` to the path of a mapping declaration (transforms/*.yml)")
        path = mapping_path(configured)
        self.spec: MappingFile = load_mapping(path, display_name=configured)
        self.dead_letters: DeadLetterStore | None = dead_letter_store_from_settings(
            dead_letter_config(self.config, self.logger), NAME, default="none"
        )
        self.groups = GroupStore() if any(m.grouped for m in self.spec.mappings) else None
        self.params = mapping_params(self.spec.params, self.config.get("params"))
        self.held_state: dict[str, Any] | None = None
        self.source_keys: dict[str, list[str]] = {}
        self.source_schemas: dict[str, dict[str, Any]] = dict(self.spec.source_schemas or {})
        self.schemas_sent: set[str] = set()
        self.dropped: set[str] = set()
        self.failed = 0

    def map_schema_message(self, message_dict: dict) -> Iterable[singer.Message]:
        stream = message_dict["stream"]
        rules = self.spec.for_stream(stream)
        if not rules:
            self._drop(stream)
            return []
        schema = message_dict.get("schema") or {}
        self.spec.check_stream_schema(stream, schema)
        self.source_schemas[stream] = schema
        self.source_keys[stream] = list(message_dict.get("key_properties") or [])
        messages = []
        for rule in rules:
            if rule.target in self.schemas_sent:
                continue
            self.schemas_sent.add(rule.target)
            if rule.target in self.spec.consumed:  # its derived streams are announced instead
                for derived in self.spec.derive:
                    if derived.source == rule.target and derived.target not in self.schemas_sent:
                        self.schemas_sent.add(derived.target)
                        messages.append(singer.SchemaMessage(derived.target, derived.output_schema(),
                                                             key_properties=list(derived.key)))  # fmt: skip
                continue
            messages.append(
                singer.SchemaMessage(rule.target, rule.output_schema(schema), key_properties=list(rule.key))
            )
        return messages

    def map_record_message(self, message_dict: dict) -> Iterable[singer.Message]:
        stream = message_dict["stream"]
        record = message_dict.get("record") or {}
        out: list[singer.Message] = []
        for rule in self.spec.for_stream(stream):
            try:
                mapped = self._map(rule, record)
            except (ExpressionError, FieldError) as exc:
                self._failed(rule, record, exc)
                continue
            if mapped is None:
                continue
            fields, collected = mapped
            if rule.grouped:
                assert self.groups is not None
                self.groups.add(rule.target, [fields.get(n) for n in rule.group_by], fields, collected)
            else:
                out.append(singer.RecordMessage(rule.target, fields, time_extracted=None))
        if not self.spec.for_stream(stream):
            self._drop(stream)
        return out

    def map_state_message(self, message_dict: dict) -> Iterable[singer.Message]:
        if self.groups is not None:
            self.held_state = message_dict["value"]
            return []
        return [singer.StateMessage(value=message_dict["value"])]

    def map_activate_version_message(self, message_dict: dict) -> Iterable[singer.Message]:
        return []

    def map_batch_message(self, message_dict: dict) -> Iterable[singer.Message]:
        raise DataError(f"{NAME}: BATCH messages are not supported; turn batch mode off in the tap")

    def process_endofpipe(self) -> None:
        """Write every group, then the held STATE, then close the stores."""
        try:
            if self.groups is not None:
                self._write_messages(self._flush_groups())
                if self.held_state is not None:
                    self.write_message(singer.StateMessage(value=self.held_state))
        finally:
            if self.groups is not None:
                self.groups.close()
            if self.dead_letters is not None:
                self.dead_letters.close()
        if self.failed:
            self.logger.warning("mapping=%s dead_letters=%d (see `ponte dlq list`)", self.spec.name, self.failed)

    def _flush_groups(self) -> Iterator[singer.Message]:
        assert self.groups is not None
        for target in self.spec.targets:
            rules = [m for m in self.spec.mappings if m.target == target and m.grouped]
            if not rules or target not in self.schemas_sent:
                continue  # no source stream of this output arrived (its SCHEMA would have been written)
            collects = {c.name: c for rule in rules for c in rule.collect}
            for record, lists in self.groups.groups(target):
                for name, collect in collects.items():
                    record[name] = collect.finish(lists.get(name, []))
                if target not in self.spec.consumed:
                    yield singer.RecordMessage(target, record, time_extracted=None)
                    continue
                for derived in self.spec.derive:
                    if derived.source == target:
                        yield from self._derived(derived, record)

    def _derived(self, rule: DeriveRule, group: dict[str, Any]) -> Iterator[singer.Message]:
        try:
            records = list(rule.apply(group, self.params))
        except (ExpressionError, FieldError) as exc:
            self._failed_derive(rule, group, exc)
            return
        for record in records:
            yield singer.RecordMessage(rule.target, record, time_extracted=None)

    def _failed_derive(self, rule: DeriveRule, group: dict[str, Any], exc: Exception) -> None:
        position = self.spec.loaded.value_position(rule.key_path) or self.spec.loaded.nearest_position(rule.key_path)
        message = f"{self.spec.file}:{position[0]}:{position[1]} derive {rule.source} → {rule.target}: {exc}"
        if self.dead_letters is None:
            raise DataError(f"{message} — fix the mapping, or set dead_letter_store to keep such groups aside")
        self.failed += 1
        self.logger.warning("dead_letter %s", message)
        run_id = launcher_run_id()
        letter = DeadLetter(NAME, rule.source, group, message, entity=rule.target, run_id=run_id and str(run_id))
        self.dead_letters.add([letter])

    def _map(self, rule: MappingRule, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(fields, collected values) of one record, or None when the filter drops it."""
        current: FieldRule | None = None
        try:
            if rule.filter is not None and not rule.filter.evaluate(record, rule.source):
                return None
            fields = {}
            for current in rule.fields:
                fields[current.name] = current.value(record, rule.source)
            collected = {}
            for collect in rule.collect:
                current = collect.item
                collected[collect.name] = collect.item.value(record, rule.source)
        except (ExpressionError, FieldError) as exc:
            exc.field_rule = current  # type: ignore[attr-defined]
            raise
        return fields, collected

    def _failed(self, rule: MappingRule, record: dict[str, Any], exc: Exception) -> None:
        field_rule: FieldRule | None = getattr(exc, "field_rule", None)
        key_path = field_rule.key_path if field_rule is not None else (*rule.key_path, "filter")
        position = self.spec.loaded.value_position(key_path) or self.spec.loaded.nearest_position(key_path)
        keys = self.source_keys.get(rule.source) or []
        record_key = {k: record.get(k) for k in keys} if keys else "(stream has no key)"
        where = f"field '{field_rule.name}'" if field_rule is not None else "filter"
        message = (
            f"{self.spec.file}:{position[0]}:{position[1]} mapping {rule.source} → {rule.target}, "
            f"record {record_key}, {where}: {exc}"
        )
        if self.dead_letters is None:
            raise DataError(
                f"{message} — fix the mapping or the record, or set `dead_letters` to keep such records aside"
            )
        self.failed += 1
        self.logger.warning("dead_letter %s", message)
        run_id = launcher_run_id()  # under `ponte run`, `ponte dlq list --run <id>` finds these letters too
        letter = DeadLetter(NAME, rule.source, record, message, entity=rule.target, run_id=run_id and str(run_id))
        self.dead_letters.add([letter])

    def _drop(self, stream: str) -> None:
        if stream not in self.dropped:
            self.dropped.add(stream)
            self.logger.info("stream=%s dropped: no mapping of %s reads it", stream, self.spec.file)


def main() -> None:
    """Console script `ponte-mapper`: expected failures print one line and exit with their code."""
    try:
        PonteMapper.cli()
    except PonteError as exc:
        text = str(exc)
        print(text if text.startswith(NAME) else f"{NAME}: {text}", file=sys.stderr)
        sys.exit(exc.exit_code)
