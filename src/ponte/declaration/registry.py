"""Names of the strategies a declaration can pick, shared by the engine and the JSON Schema.

The engine's registries (paginators, authenticators, replication, bookmarks, setting kinds) import
these tuples, and a unit test checks they equal the enums in ``schemas/tap.schema.json``, so a name
added in code but not in the schema (or the other way round) fails the build instead of a user's run.
The order is the order shown in error messages and in ``ponte validate --explain tap``.
"""

from __future__ import annotations

PAGINATOR_TYPES: tuple[str, ...] = ("offset", "page", "none")
AUTH_TYPES: tuple[str, ...] = ("basic", "bearer", "api_key", "oauth2", "none", "select")
OAUTH2_GRANT_TYPES: tuple[str, ...] = ("client_credentials", "password", "refresh_token", "authorization_code")
REPLICATION_METHODS: tuple[str, ...] = ("full_table", "incremental")
BOOKMARK_MODES: tuple[str, ...] = ("max_value", "window_end")
SETTING_KINDS: tuple[str, ...] = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "date_time",
    "array",
    "object",
)

# Kinds of declaration and the folder (at the top of the repo) that holds them. A kind is validated once
# `schemas/<kind>.schema.json` exists; until then `find_declarations` skips its folder.
DECLARATION_FOLDERS: dict[str, str] = {
    "tap": "taps",
    "target": "targets",
    "mapping": "transforms",
    "webhooks": "webhooks",
}

# Formats a declaration picks with a top-level `format:` key, and the kind of folder they live in. A declaration
# without the key has its folder's format (taps/*.yml → tap, the REST format); `format: line_files` in taps/
# declares a tap that reads text lines from files (taps/keyence.yml), validated by schemas/line_files.schema.json.
DECLARATION_FORMATS: dict[str, str] = {"line_files": "tap"}
LINE_COLUMN_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "timestamp", "date")
