"""The JSON Schema of a declaration's `settings:`, whatever the declaration's format.

What singer-sdk validates a tap's config against and what every plugin's `--about` prints; kept free of
singer-sdk so the ingest-API targets can print it without paying for the SDK's import.
"""

from __future__ import annotations

import copy
from typing import Any

SETTING_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": ["string"]},
    "integer": {"type": ["integer"]},
    # Numbers may arrive as text: Meltano 4.4 cannot pass a `kind: decimal` setting set by an environment variable
    # (it fails with "Decimal is not JSON serializable"), so meltano.yml declares them `kind: string`.
    "number": {"type": ["number", "string"], "pattern": r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"},
    "boolean": {"type": ["boolean"]},
    "date": {"type": ["string"], "format": "date"},
    "date_time": {"type": ["string"], "format": "date-time"},
    "array": {"type": ["array"], "items": {}},  # `items`: singer-sdk reads an array env var only with one
    "object": {"type": ["object"]},
}


def settings_jsonschema(settings: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """JSON Schema of a declaration's `settings:` (any declaration format): types, defaults, secrets."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for setting in settings:
        prop = copy.deepcopy(SETTING_TYPES[setting.get("kind", "string")])
        if not setting.get("required"):
            prop["type"] = [*prop["type"], "null"]
        for key in ("description", "enum"):
            if key in setting:
                prop[key] = setting[key]
        default = setting.get("default")
        if default is not None and not (isinstance(default, str) and "{{" in default):
            prop["default"] = default
        if setting.get("secret"):
            prop["secret"] = True
            prop["writeOnly"] = True
        properties[setting["name"]] = prop
        if setting.get("required"):
            required.append(setting["name"])
    return {"type": "object", "properties": properties, "required": required}
