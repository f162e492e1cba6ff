"""meltano.yml declares what each Ponte plugin says it accepts and can do (`<plugin> --about --format=json`).

Meltano hands a plugin only the settings meltano.yml declares: a setting the plugin accepts but meltano.yml
omits is silently dropped when a user sets it (TARGET_POSTGRES_SQLALCHEMY_URL was, and the data went to
database `ponte`); one declared but unknown to the plugin does nothing. Capabilities tell Meltano what it may
ask of the plugin (a catalog, state, structured logs), so they must be the plugin's own.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities, TargetCapabilities

from ponte.cli.taps import TOTVS_FLAVOURS
from ponte.cli.targets import TOTVS_WRITE_FLAVOURS
from ponte.testing.in_process import call_console_script, run_console_script

ROOT = Path(__file__).parents[2]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
OWN = {
    entry["name"]: entry
    for kind in ("extractors", "loaders", "mappers")
    for entry in PROJECT["plugins"][kind]
    if entry.get("pip_url") == "-e ."
}
# Plugins whose declaration depends on a setting: the variable that picks it, and its values.
FLAVOURS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tap-totvs": ("TAP_TOTVS_FLAVOUR", TOTVS_FLAVOURS),
    "target-totvs": ("TARGET_TOTVS_FLAVOUR", TOTVS_WRITE_FLAVOURS),
}
STANDARD_CAPABILITIES = {c.value for enum in (PluginCapabilities, TapCapabilities, TargetCapabilities) for c in enum}
# The JSON types a Meltano setting kind passes; numbers with decimals are `kind: string` (Meltano 4.4.1 cannot
# pass a `kind: decimal` setting set by an environment variable, see test_meltano_settings_env.py).
KIND_TYPES = {
    "string": {"string", "number"},
    "options": {"string"},
    "date_iso8601": {"string"},
    "integer": {"integer"},
    "boolean": {"boolean"},
    "object": {"object"},
    "array": {"array"},
}


@pytest.fixture(scope="module")
def abouts() -> dict[str, list[dict[str, Any]]]:
    """Every plugin's `--about --format=json` (one per flavour for tap-totvs and target-totvs), through its console
    script's entry point in this process: a dozen plugin processes cost ~20 s of CPU, and xdist may build this once
    per worker."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, entry in OWN.items():
        variable, flavours = FLAVOURS.get(name, ("", ("",)))
        for flavour in flavours:
            env = {variable: flavour} if flavour else None
            code, out, err = call_console_script(entry["executable"], ["--about", "--format=json"], env=env)
            assert code == 0, f"{name} --about failed: {err[-2000:]}"
            found[name].append(json.loads(out))
    return found


def accepted(abouts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Settings any flavour accepts, by name, with their JSON Schema."""
    return {name: prop for about in abouts for name, prop in about["settings"]["properties"].items()}


def declared(name: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in OWN[name]["settings"]}


@pytest.mark.parametrize("name", sorted(OWN))
def test_meltano_declares_every_setting_the_plugin_accepts_and_no_other(
    abouts: dict[str, list[dict[str, Any]]], name: str
) -> None:
    plugin, meltano = set(accepted(abouts[name])), set(declared(name))
    assert not plugin - meltano, f"{name}: meltano.yml does not declare {sorted(plugin - meltano)}"
    assert not meltano - plugin, f"{name}: the plugin does not accept {sorted(meltano - plugin)}"


@pytest.mark.parametrize("name", sorted(OWN))
def test_secrets_are_sensitive_and_kinds_fit_the_plugin_types(
    abouts: dict[str, list[dict[str, Any]]], name: str
) -> None:
    settings = declared(name)
    for setting, prop in accepted(abouts[name]).items():
        meltano = settings[setting]
        assert bool(meltano.get("sensitive")) == bool(prop.get("secret")), f"{name}.{setting}: sensitive"
        types = set(prop["type"] if isinstance(prop["type"], list) else [prop["type"]]) - {"null"}
        kind = meltano["kind"]
        assert types & KIND_TYPES[kind], f"{name}.{setting}: kind {kind} for a setting of type {sorted(types)}"
        if "number" in types:
            assert kind == "string", f"{name}.{setting}: a number is `kind: string` (Meltano 4.4.1 decimal bug)"
        if kind == "options" and prop.get("enum"):
            assert {o["value"] for o in meltano["options"]} == set(prop["enum"]), f"{name}.{setting}: options"


@pytest.mark.parametrize("name", sorted(OWN))
def test_capabilities_are_the_plugins_own_and_standard(abouts: dict[str, list[dict[str, Any]]], name: str) -> None:
    plugin = {c for about in abouts[name] for c in about["capabilities"]}
    assert set(OWN[name]["capabilities"]) == plugin
    assert plugin <= STANDARD_CAPABILITIES, (
        f"{name}: non-standard capabilities {sorted(plugin - STANDARD_CAPABILITIES)}"
    )


@pytest.mark.parametrize("name", sorted(OWN))
def test_required_settings_are_a_settings_group(abouts: dict[str, list[dict[str, Any]]], name: str) -> None:
    """`meltano config list` shows settings_group_validation as the required settings."""
    required = {frozenset(about["settings"].get("required") or ()) for about in abouts[name]} - {frozenset()}
    groups = {frozenset(group) for group in OWN[name].get("settings_group_validation") or []}
    assert required == groups


@pytest.mark.parametrize("name", ["target-proextend", "target-retailportal"])
def test_an_api_target_describes_itself_in_markdown(abouts: dict[str, list[dict[str, Any]]], name: str) -> None:
    run = run_console_script(name, ["--about", "--format=markdown"])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"# `{name}`"
    assert "## Capabilities" in lines and "## Settings" in lines
    for setting in accepted(abouts[name]):
        assert any(line.startswith(f"| {setting} |") for line in lines), setting


@pytest.mark.parametrize("name", sorted(n for n in OWN if n.startswith("tap-")))
def test_a_tap_describes_the_source_its_declaration_names(abouts: dict[str, list[dict[str, Any]]], name: str) -> None:
    """`--about` (and the docs tables made from it) say what the tap reads, not how it was built."""
    for about in abouts[name]:
        assert about["description"] and "generated from a Ponte declaration" not in about["description"]
