"""Build a singer-sdk Tap class from a `taps/<source>.yml` declaration.

The declaration is read once, when the console script starts; every stream becomes a DeclarativeStream
subclass with its StreamDef. What the SDK leaves to each tap author is decided here, the same way for every
source: settings → config JSON Schema, defaults merged into streams, parents linked to children.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from singer_sdk import Tap

from ponte.core.errors import SpecError
from ponte.declaration.settings_schema import settings_jsonschema
from ponte.declaration.stream_defaults import effective_paginator, effective_record_selector
from ponte.declaration.stream_schemas import resolve_schema
from ponte.tap.lifecycle import LifecycleMixin
from ponte.tap.runtime import TapRuntime, build_runtime
from ponte.tap.stream import WINDOW_END_FIELD, DeclarativeStream, StreamDef

EMIT_ACTIVATE_VERSION = {
    "type": ["boolean"],
    "default": True,
    "title": "Emit ACTIVATE_VERSION messages",
    "description": (
        "Send ACTIVATE_VERSION after each full-table stream so targets can mark rows that vanished from the "
        "source. Ponte sends it after the last record (never before), so an interrupted run retires nothing."
    ),
}


def config_jsonschema(settings: list[dict[str, Any]]) -> dict[str, Any]:
    """The config JSON Schema singer-sdk validates against and `--about` documents (REST taps)."""
    schema = settings_jsonschema(settings)
    schema["properties"]["emit_activate_version_messages"] = EMIT_ACTIVATE_VERSION
    return schema


def stream_defs(spec: dict[str, Any], base_dir: Path, file: str) -> list[StreamDef]:
    """Every declared stream with defaults merged, schema resolved and primary keys checked."""
    defaults = spec.get("defaults") or {}
    defs: list[StreamDef] = []
    for index, raw in enumerate(spec.get("streams") or []):
        where = f"streams.{index}"
        selector = effective_record_selector(spec, raw)
        schema = resolve_schema(raw["schema"], base_dir, selector, f"{where}.schema")
        properties = schema.setdefault("properties", {})
        parent_props = next((d.schema.get("properties", {}) for d in defs if d.name == raw.get("parent")), {})
        for child_field, parent_field in (raw.get("parent_keys") or {}).items():
            declared = copy.deepcopy(parent_props.get(parent_field) or {"type": ["integer", "string"]})
            declared["description"] = f"{parent_field} of the parent {raw.get('parent')} record."
            properties.setdefault(child_field, declared)
        for target, source in (raw.get("copy_fields") or {}).items():
            properties.setdefault(target, _nested_property(schema, source))
        if raw.get("deleted_when"):
            properties["_sdc_deleted_at"] = {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "Set when the source marks the record deleted.",
            }
        account_field = (spec.get("accounts") or {}).get("field")
        if account_field:
            properties[account_field] = {"type": ["string"], "description": "Account the record was read from."}
        each = raw.get("for_each")
        if each:
            properties[each["field"]] = {
                "type": ["string"],
                "description": f"The value of setting {each['setting']} this record was read for.",
            }
        for key in raw.get("primary_key") or []:
            if key not in properties:
                raise SpecError(
                    f"primary key field '{key}' is not in the stream's schema; add it to the schema or fix the key",
                    file=file,
                    key_path=f"{where}.primary_key",
                )
            prop = properties[key]
            if isinstance(prop.get("type"), list) and "null" in prop["type"]:
                prop["type"] = [t for t in prop["type"] if t != "null"]
        replication = dict(raw.get("replication") or {"method": "full_table"})
        if replication.get("method") == "incremental" and not replication.get("cursor_field"):
            properties[WINDOW_END_FIELD] = _window_end_property(replication)
        defs.append(
            StreamDef(
                name=raw["name"],
                path=raw["path"],
                primary_key=list(raw.get("primary_key") or []),
                schema=schema,
                paginator=effective_paginator(spec, raw),
                record_selector=selector,
                params=dict(defaults.get("params") or {}) | dict(raw.get("params") or {}),
                headers=dict(defaults.get("headers") or {}) | dict(raw.get("headers") or {}),
                replication=replication,
                parent=raw.get("parent"),
                parent_keys=dict(raw.get("parent_keys") or {}),
                description=raw.get("description"),
                selected=raw.get("selected", True),
                ids_from=_ids_from(spec, raw.get("ids_from")),
                detail=raw.get("detail"),
                copy_fields=dict(raw.get("copy_fields") or {}),
                deleted_when=raw.get("deleted_when"),
                for_each=dict(each) if each else None,
            )
        )
    return defs


def _window_end_property(replication: dict[str, Any]) -> dict[str, Any]:
    """The schema of the window end stamped on records that carry no change time (their replication key)."""
    day_filter = "%H" not in replication.get("request_format", "%Y-%m-%dT%H:%M:%S")
    return {
        "type": ["string", "null"],
        "format": "date" if day_filter else "date-time",
        "description": "End of the change window this record was read in (the stream's replication key: the API "
        "filters on a change time the records do not carry).",
    }


def _ids_from(spec: dict[str, Any], raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The id listing with the tap's default paginator and record selector filled in."""
    if not raw:
        return None
    return {
        **raw,
        "paginator": effective_paginator(spec, raw),
        "record_selector": effective_record_selector(spec, raw),
    }


def _nested_property(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The JSON Schema of `a.b.c` inside an object schema (any type when it is not declared)."""
    node: Any = schema
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return {}
    return copy.deepcopy(node)


def stream_classes(defs: list[StreamDef], tap_name: str) -> list[type[DeclarativeStream]]:
    """One DeclarativeStream subclass per StreamDef, children linked to their parent's class."""
    classes: dict[str, type[DeclarativeStream]] = {}
    for sdef in defs:
        attrs: dict[str, Any] = {"sdef": sdef, "child_parent_fields": set(), "__doc__": sdef.description}
        cls = type(_class_name(tap_name, sdef.name), (DeclarativeStream,), attrs)
        if sdef.parent:
            parent_cls = classes[sdef.parent]
            cls.parent_stream_type = parent_cls
            parent_cls.child_parent_fields = parent_cls.child_parent_fields | sdef.parent_fields()
        classes[sdef.name] = cls  # type: ignore[assignment]
    return list(classes.values())


def _class_name(tap_name: str, stream: str) -> str:
    words = f"{tap_name}_{stream}".replace("-", "_").split("_")
    return "".join(w.capitalize() for w in words) + "Stream"


def build_tap_class(spec: dict[str, Any], base_dir: Path, file: str) -> type[Tap]:
    """A Tap subclass for one declaration (`tap-<name>`), ready for `.cli()`."""
    tap_name = f"tap-{spec['name']}"
    defs = stream_defs(spec, base_dir, file)
    classes = stream_classes(defs, tap_name)

    class DeclarativeTap(LifecycleMixin, Tap):
        """Singer tap generated from a Ponte declaration."""

        name = tap_name
        package_name = "ponte-elt"
        config_jsonschema = config_jsonschema(spec.get("settings") or [])
        declaration = spec
        declaration_dir = base_dir

        def discover_streams(self) -> list[DeclarativeStream]:
            """One stream per declared entry; undeclared-by-default streams start deselected."""
            streams = [cls(tap=self) for cls in classes]
            for stream in streams:
                if not stream.sdef.selected and self.input_catalog is None:
                    stream.selected = False
            return streams

        def make_runtime(self) -> TapRuntime:
            return build_runtime(spec, base_dir, dict(self.config), self.logger, started_at=self.started_at)

    DeclarativeTap.__doc__ = spec.get("description") or DeclarativeTap.__doc__  # what `--about` says it reads
    DeclarativeTap.__name__ = DeclarativeTap.__qualname__ = _class_name(tap_name, "").removesuffix("Stream") + "Tap"
    return DeclarativeTap
