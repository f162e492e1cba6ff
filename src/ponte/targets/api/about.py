"""What an ingest-API target says about itself (`--about`), in the shapes singer-sdk plugins print.

Meltano, `meltano add --from-ref` definitions and the Hub's tooling read `--about --format=json` the same way
for every plugin: settings as a JSON Schema, capabilities by their standard names. These targets are not
singer-sdk plugins, so only what they implement is claimed: `about` and `test` (one request proving URL and
credentials). Stream maps are not implemented; put `ponte-mapper` (or any mapper) in front of the target.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from ponte.declaration.settings_schema import settings_jsonschema
from ponte.declaration.validation import Declaration

CAPABILITIES = ("about", "test")
FORMATS = ("text", "json", "markdown")


def about_info(declaration: Declaration, settings: list[dict[str, Any]]) -> dict[str, Any]:
    """Name, description, version, capabilities, settings (JSON Schema) and the entities sent."""
    data = declaration.data
    return {
        "name": f"target-{data['name']}",
        "description": data.get("description"),
        "version": _version(),
        "capabilities": list(CAPABILITIES),
        "settings": settings_jsonschema(settings),
        "entities": [
            {"name": e["name"], "streams": e.get("streams") or [e["name"]], "path": e["path"]} for e in data["entities"]
        ],
    }


def render_about(info: dict[str, Any], output_format: str) -> str:
    """`info` as JSON, markdown (the layout singer-sdk uses, for READMEs and docs) or plain text."""
    if output_format == "json":
        return json.dumps(info, indent=2, ensure_ascii=False)
    if output_format == "markdown":
        return _markdown(info)
    return _text(info)


def _env_var(info: dict[str, Any], setting: str) -> str:
    return f"{info['name'].upper().replace('-', '_')}_{setting.upper()}"


def _markdown(info: dict[str, Any]) -> str:
    schema = info["settings"]
    lines = [f"# `{info['name']}`", "", info.get("description") or "", ""]
    lines += ["Built by Ponte from a target declaration (not a singer-sdk plugin).", ""]
    lines += ["## Capabilities", "", *(f"- `{c}`" for c in info["capabilities"]), ""]
    lines += ["## Entities", "", "| Entity | Streams | Path |", "|:-------|:--------|:-----|"]
    lines += [f"| {e['name']} | {', '.join(e['streams'])} | `{e['path']}` |" for e in info["entities"]]
    lines += ["", "## Settings", ""]
    lines += ["| Setting | Required | Default | Description |", "|:--------|:--------:|:-------:|:------------|"]
    for name, prop in schema["properties"].items():
        required = name in schema.get("required", [])
        description = str(prop.get("description", "")).replace("\n", "<BR/>").replace("|", "\\|")
        lines.append(f"| {name} | {required} | {prop.get('default', 'None')} | {description} |")
    lines += ["", f"Each setting can also be set as an environment variable: {_env_var(info, '<SETTING>')}.", ""]
    lines += [f"A full list of supported settings and capabilities is available by running: `{info['name']} --about`"]
    return "\n".join(lines) + "\n"


def _text(info: dict[str, Any]) -> str:
    lines = [f"Name: {info['name']}", f"Description: {info.get('description')}", f"Version: {info['version']}"]
    lines += ["Capabilities:", *(f"  - {c}" for c in info["capabilities"]), "Settings:"]
    for name, prop in info["settings"]["properties"].items():
        lines += [
            f"  - Name: {name}",
            f"    Type: {prop.get('type')}",
            f"    Environment Variable: {_env_var(info, name)}",
        ]
    return "\n".join(lines) + "\n"


def _version() -> str:
    try:
        return metadata.version("ponte-elt")
    except metadata.PackageNotFoundError:
        return "unknown"
