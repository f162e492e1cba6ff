"""Build a singer-sdk Tap class from a `taps/<source>.yml` declaration.

The declaration is read once, when the console script starts; every stream becomes a DeclarativeStream
subclass with its StreamSpec (ponte.declaration.streams). What the SDK leaves to each tap author is decided here, the same way for every
source: settings → config JSON Schema, defaults merged into streams, parents linked to children.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from singer_sdk import Tap

from ponte.declaration.settings_schema import settings_jsonschema
from ponte.declaration.streams import StreamSpec, stream_specs
from ponte.tap.ids_to_values import add_values_from_ids
from ponte.tap.lifecycle import LifecycleMixin
from ponte.tap.runtime import TapRuntime, build_runtime
from ponte.tap.stream import DeclarativeStream

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


def stream_classes(defs: list[StreamSpec], tap_name: str) -> list[type[DeclarativeStream]]:
    """One DeclarativeStream subclass per StreamSpec, children linked to their parent's class."""
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
    defs = stream_specs(spec, base_dir, file)
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
            runtime = build_runtime(spec, base_dir, dict(self.config), self.logger, started_at=self.started_at)
            add_values_from_ids(runtime, self.logger)
            return runtime

    DeclarativeTap.__doc__ = spec.get("description") or DeclarativeTap.__doc__  # what `--about` says it reads
    DeclarativeTap.__name__ = DeclarativeTap.__qualname__ = _class_name(tap_name, "").removesuffix("Stream") + "Tap"
    return DeclarativeTap
