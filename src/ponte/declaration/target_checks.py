"""Checks of an ingest-API target declaration that JSON Schema cannot express (run after the schema passed).

Entity names, streams and dependencies must form an order the engine can follow; every payload schema must
exist, be a valid JSON Schema and declare the key and the referenced fields; literal batch sizes and
parallelism must respect the API's own limits. Each problem points at its line in the YAML.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from ponte.core.errors import SpecError
from ponte.declaration.locate import spec_error
from ponte.declaration.schema_errors import did_you_mean
from ponte.declaration.tap_checks import check_auth_secrets, check_settings, check_timezone
from ponte.declaration.template_checks import CONFIG_ONLY, check_string
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

CONFIG_AND_JOB = CONFIG_ONLY | {"job"}  # a job's status path names the job: `/jobs/{{ job.id }}`

UNRENDERED = ("description", "settings", "schema", "record_errors", "dry_run_line", "history")
PER_ACCOUNT = ("auth", "rate_limit", "http")  # rendered once per account when the target declares `accounts:`


def check_target(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> Iterator[SpecError]:
    """Every semantic problem of a schema-valid target declaration."""
    yield from check_settings(data, loaded)
    yield from check_timezone(data, loaded)
    yield from check_auth_secrets(data, loaded)
    yield from _check_templates(data, loaded)
    entities = data.get("entities") or []
    names = [e["name"] for e in entities]
    yield from _check_unique(entities, loaded)
    for index, entity in enumerate(entities):
        where: KeyPath = ("entities", index)
        merged = {**(data.get("defaults") or {}), **entity}
        for dep_index, dep in enumerate(entity.get("depends_on") or []):
            if dep not in names:
                yield spec_error(
                    loaded, (*where, "depends_on", dep_index), f"no entity named '{dep}'{did_you_mean(dep, names)}"
                )
            elif dep == entity["name"]:
                yield spec_error(loaded, (*where, "depends_on", dep_index), "an entity cannot depend on itself")
        yield from _check_limits(merged, where, loaded)
        if "{{ record." in str(merged.get("path")) and int(merged.get("batch_size") or 100) != 1:
            yield spec_error(loaded, (*where, "path"), "a path naming the record's fields ({{ record.x }}) needs "
                             "batch_size: 1 (one record per request)")  # fmt: skip
        yield from _check_schema(entity, merged, where, loaded, base_dir, names)
    yield from _check_cycles(entities, loaded)


def _check_templates(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    settings = [s.get("name") for s in data.get("settings") or [] if isinstance(s, dict)]
    for path, text in _strings(data, ()):
        if "{{" in text or "}}" in text:
            allowed = CONFIG_AND_JOB if path[-2:] == ("job", "status_path") else CONFIG_ONLY
            if _per_record(path):  # rendered per record when sending (one record per request)
                allowed = allowed | {"record"}
            if data.get("accounts") and path[0] in PER_ACCOUNT:
                allowed = allowed | {"account"}
            yield from check_string(data, loaded, path, text, settings, allowed)


def _per_record(path: KeyPath) -> bool:
    """An entity's path or find_existing (path, params), where `{{ record.x }}` names the payload's fields."""
    if path and path[0] == "entities":
        return len(path) >= 3 and path[2] in ("path", "find_existing")
    return len(path) >= 2 and path[0] == "defaults" and path[1] in ("path", "find_existing")


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in UNRENDERED:
                yield from _strings(item, (*path, key))


def _check_unique(entities: list[dict[str, Any]], loaded: LoadedYaml) -> Iterator[SpecError]:
    seen: dict[str, str] = {}
    for index, entity in enumerate(entities):
        if entity["name"] in seen:
            yield spec_error(loaded, ("entities", index, "name"), f"entity '{entity['name']}' is declared twice")
        seen.setdefault(entity["name"], entity["name"])
    owner: dict[str, str] = {}
    for index, entity in enumerate(entities):
        for s_index, stream in enumerate(entity.get("streams") or [entity["name"]]):
            if stream in owner and owner[stream] != entity["name"]:
                yield spec_error(
                    loaded,
                    ("entities", index, "streams", s_index) if entity.get("streams") else ("entities", index, "name"),
                    f"stream '{stream}' already feeds entity '{owner[stream]}'; a stream feeds one entity",
                )
            owner.setdefault(stream, entity["name"])


def _check_limits(merged: Mapping[str, Any], where: KeyPath, loaded: LoadedYaml) -> Iterator[SpecError]:
    for value_key, limit_key in (("batch_size", "max_batch_size"), ("parallel", "max_parallel")):
        value, limit = merged.get(value_key), merged.get(limit_key)
        if isinstance(value, int) and isinstance(limit, int) and value > limit:
            yield spec_error(
                loaded,
                (*where, value_key),
                f"{value_key} {value} is above the API's limit of {limit} ({limit_key}); use at most {limit}",
            )


def _check_schema(
    entity: Mapping[str, Any],
    merged: Mapping[str, Any],
    where: KeyPath,
    loaded: LoadedYaml,
    base_dir: Path,
    names: list[str],
) -> Iterator[SpecError]:
    file = base_dir / entity["schema"]
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except FileNotFoundError:
        yield spec_error(
            loaded, (*where, "schema"), f"payload schema file {entity['schema']} not found next to the YAML"
        )
        return
    except (ValueError, SchemaError) as exc:
        message = getattr(exc, "message", str(exc))
        yield spec_error(loaded, (*where, "schema"), f"{entity['schema']} is not a valid JSON Schema: {message}")
        return
    properties = schema.get("properties") or {}
    keys = merged.get("primary_key") or []
    carried = set(entity.get("record_fields") or [])
    if not keys:
        yield spec_error(
            loaded, (*where, "name"), "no `primary_key`: name the field the API upserts on (here or in defaults)"
        )
    for key in keys:
        if key.split(".")[0] not in properties and key not in carried:
            yield spec_error(
                loaded,
                (*where, "primary_key") if "primary_key" in entity else (*where, "schema"),
                f"key '{key}' is not a property of {entity['schema']} nor in record_fields"
                f"{did_you_mean(key, list(properties))}",
            )
    depends = set(entity.get("depends_on") or [])
    for field, target in (entity.get("references") or {}).items():
        at = (*where, "references", field)
        if field not in properties:
            yield spec_error(
                loaded, at, f"field '{field}' is not in {entity['schema']}{did_you_mean(field, list(properties))}"
            )
        elif target not in names:
            yield spec_error(loaded, at, f"no entity named '{target}'{did_you_mean(target, names)}")
        elif target not in depends:
            yield spec_error(loaded, at, f"'{target}' must also be in depends_on, so it is sent before this entity")


def _check_cycles(entities: list[dict[str, Any]], loaded: LoadedYaml) -> Iterator[SpecError]:
    graph = {e["name"]: [d for d in e.get("depends_on") or [] if d != e["name"]] for e in entities}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in graph.get(name, []):
            if state.get(dep) == 1:
                return [*trail, name, dep]
            if dep in graph and state.get(dep) is None:
                found = visit(dep, [*trail, name])
                if found:
                    return found
        state[name] = 2
        return None

    for index, entity in enumerate(entities):
        if state.get(entity["name"]) is None:
            cycle = visit(entity["name"], [])
            if cycle:
                yield spec_error(loaded, ("entities", index, "depends_on"), f"dependency cycle: {' -> '.join(cycle)}")
                return


def load_payload_schema(base_dir: Path, relative: str) -> dict[str, Any]:
    """A payload schema, as the engine uses it (the checks above already proved it loads)."""
    return json.loads((base_dir / relative).read_text(encoding="utf-8"))


__all__: list[str] = ["check_target", "load_payload_schema"]
