"""JSON Schemas of a line-files tap's two streams, built from the declaration (no singer-sdk needed).

`ponte follow --setup-only` creates the tables from the same schemas the tap sends, with the target's own DDL,
so the view can exist before the first line is loaded.
"""

from __future__ import annotations

from typing import Any

from ponte.linefiles.declaration import LineFormat

ORIGIN_PROPERTIES: dict[str, dict[str, Any]] = {
    "_file_id": {
        "type": ["string"],
        "description": "The file's identity: a hash of its first line (stable across renames), ~N after a cut.",
    },
    "_file_offset": {"type": ["integer"], "description": "Byte offset of the line in its file."},
    "_file_name": {"type": ["string"], "description": "Name of the file when the line was read."},
    "_file_line": {"type": ["integer"], "description": "Line number in the file (1 = first line)."},
}
KEY = ["_file_id", "_file_offset"]
COLUMN_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": ["string"]},
    "integer": {"type": ["integer"]},
    "number": {"type": ["number"]},
    "boolean": {"type": ["boolean"]},
    "timestamp": {"type": ["string"], "format": "date-time"},
    "date": {"type": ["string"], "format": "date"},
}


def lines_schema(fmt: LineFormat) -> dict[str, Any]:
    """JSON Schema of the parsed-lines stream: the declared columns, then where the line came from."""
    properties: dict[str, Any] = {}
    for column in fmt.columns:
        prop = dict(COLUMN_TYPES[column.type])
        if column.nullable:
            prop["type"] = [*prop["type"], "null"]
        if column.description:
            prop["description"] = column.description
        properties[column.name] = prop
    properties.update(ORIGIN_PROPERTIES)
    required = [c.name for c in fmt.columns if not c.nullable] + list(ORIGIN_PROPERTIES)
    return {"type": "object", "properties": properties, "required": required}


def rejects_schema() -> dict[str, Any]:
    """JSON Schema of the rejected-lines stream."""
    properties = {
        **ORIGIN_PROPERTIES,
        "raw_line": {"type": ["string"], "description": "The line as read (undecodable bytes replaced by U+FFFD)."},
        "reason": {"type": ["string"], "description": "Why the line was not loaded into the lines stream."},
    }
    return {"type": "object", "properties": properties, "required": list(properties)}
