"""Settings every HTTP plugin has, added by code to each tap and API target declaration as it is loaded.

A declaration states what is particular to its API; knobs of the shared HTTP client (how long the first retry
waits) are the same everywhere, so they are written once here instead of being copied into every YAML file
with their `http:` template. A declaration may still declare a shared setting itself to change its default
or description (RetailPortal asks for a 0.5 s first backoff); the `http:` template is added either way unless
the declaration's `http:` block sets that key. Target-only settings (dead letters, run log, alerts) are added
on top of these by `ponte.targets.api.common_settings`.
"""

from __future__ import annotations

from typing import Any

# Formats that speak HTTP through `auth.client_factory.build_client` (line files read local files).
HTTP_FORMATS = ("tap", "target")

HTTP_SETTINGS: tuple[dict[str, Any], ...] = (
    {
        "name": "backoff_base_seconds",
        "kind": "number",
        "default": 1,
        "description": "First retry delay after a 5xx or a dropped connection; doubles each retry (with jitter).",
    },
)

# The `http:` key each shared setting feeds.
HTTP_TEMPLATES: dict[str, str] = {"backoff_base_seconds": "{{ config.backoff_base_seconds }}"}


def add_shared_settings(kind: str, data: dict[str, Any]) -> None:
    """Append the shared settings a declaration does not declare, and their `http:` templates (in place)."""
    if kind not in HTTP_FORMATS or not isinstance(data.get("settings", []), list):
        return
    settings = data.setdefault("settings", [])
    declared = {s.get("name") for s in settings if isinstance(s, dict)}
    settings.extend(dict(s) for s in HTTP_SETTINGS if s["name"] not in declared)
    http = data.get("http")
    if http is None:
        http = data["http"] = {}
    if isinstance(http, dict):
        for key, template in HTTP_TEMPLATES.items():
            http.setdefault(key, template)
