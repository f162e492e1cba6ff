"""The singer-sdk private members Ponte relies on (ponte.tap.sdk_private) are still there, as relied on.

An SDK upgrade that renames or reshapes one of them must fail here, naming the member, rather than deep inside
a sync (a record silently written twice, a STATE one record behind). Only ponte.tap.sdk_private may touch them.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path

import pytest
from singer_sdk import Stream, Tap
from singer_sdk.helpers import _state

from ponte.tap import sdk_private

ROOT = Path(__file__).resolve().parents[2]
P = inspect.Parameter
SELF = ("self", P.POSITIONAL_OR_KEYWORD)

# member of singer_sdk.Stream → the parameters (name, kind) Ponte calls or overrides it with
PRIVATE_METHODS = {
    "_write_record_message": [SELF, ("record", P.POSITIONAL_OR_KEYWORD)],
    "_increment_stream_state": [SELF, ("latest_record", P.POSITIONAL_OR_KEYWORD), ("context", P.KEYWORD_ONLY)],
    "_write_activate_version_message": [SELF, ("full_table_version", P.POSITIONAL_OR_KEYWORD)],
    "_write_schema_message": [SELF],
}
PRIVATE_PROPERTIES = ["_singer_catalog_entry"]
PRIVATE_ATTRIBUTES = ["_stream_version", "_stream_maps"]
PRIVATE_NAMES = [*PRIVATE_METHODS, *PRIVATE_PROPERTIES, *PRIVATE_ATTRIBUTES]
UPGRADE = "singer-sdk changed: update ponte.tap.sdk_private (and this test) for the new SDK"


def _pinned_sdk_version() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in dependencies if re.match(r"singer-sdk\b", d)]
    assert len(pins) == 1 and "==" in pins[0], f"pyproject.toml must pin singer-sdk exactly, found {pins}"
    return pins[0].split("==")[1].strip()


def test_the_installed_singer_sdk_is_the_pinned_one() -> None:
    installed = importlib.metadata.version("singer-sdk")
    pinned = _pinned_sdk_version()
    assert installed == pinned, (
        f"singer-sdk {installed} is installed but pyproject.toml pins {pinned}; ponte.tap.sdk_private is checked "
        f"against {pinned} only: {UPGRADE}"
    )


@pytest.mark.parametrize("name", list(PRIVATE_METHODS))
def test_each_private_method_keeps_its_signature(name: str) -> None:
    member = inspect.getattr_static(Stream, name, None)
    assert callable(member), f"singer_sdk.Stream.{name} is gone: {UPGRADE}"
    found = [(p.name, p.kind) for p in inspect.signature(member).parameters.values()]
    assert found == PRIVATE_METHODS[name], f"singer_sdk.Stream.{name} now takes {found}: {UPGRADE}"


def test_the_catalog_entry_is_still_a_property_the_tap_builds_its_catalog_from() -> None:
    assert isinstance(inspect.getattr_static(Stream, "_singer_catalog_entry", None), property), (
        f"singer_sdk.Stream._singer_catalog_entry is no longer a property: {UPGRADE}"
    )
    catalog = inspect.getattr_static(Tap, "_singer_catalog")
    assert "_singer_catalog_entry" in inspect.getsource(catalog.fget), (
        f"singer_sdk.Tap no longer builds its catalog from Stream._singer_catalog_entry: {UPGRADE}"
    )


def test_the_private_attributes_are_still_read_where_ponte_sets_them() -> None:
    assert "self._stream_version" in inspect.getsource(Stream._generate_record_messages), (
        f"singer_sdk no longer stamps RECORD messages from Stream._stream_version: {UPGRADE}"
    )
    assert "self._stream_maps" in inspect.getsource(inspect.getattr_static(Stream, "stream_maps").fget), (
        f"singer_sdk.Stream.stream_maps no longer caches in Stream._stream_maps: {UPGRADE}"
    )
    init = inspect.getsource(Stream.__init__)
    for name in PRIVATE_ATTRIBUTES:
        assert f"self.{name}" in init, f"singer_sdk.Stream.__init__ no longer sets {name}: {UPGRADE}"


def test_the_progress_markers_key_is_the_sdk_state_key() -> None:
    assert sdk_private.PROGRESS_MARKERS == _state.PROGRESS_MARKERS == "progress_markers", UPGRADE


def test_only_sdk_private_touches_singer_sdk_private_members() -> None:
    names = "|".join(re.escape(n) for n in [*PRIVATE_NAMES, "_request", "_state_writer", "_tap_input_catalog"])
    pattern = re.compile(rf"\b({names})\b|\bself\._tap\b|singer_sdk(\.\w+)*\._\w+")
    offenders = []
    for path in sorted((ROOT / "src" / "ponte" / "tap").glob("*.py")):
        if path.name == "sdk_private.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "singer-sdk private members used outside ponte.tap.sdk_private:\n" + "\n".join(offenders)
