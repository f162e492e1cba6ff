"""Load a declaration with ruamel.yaml and remember where every key and item is in the file.

The engine wants plain dicts and lists (JSON-like, string keys), but users want errors that point at
a line and column. So loading returns both: the plain data and a position lookup by key path, where a
key path is a tuple of mapping keys (str) and list indexes (int), e.g. ``("streams", 3, "paginator")``.
Lines and columns are 1-based, as editors show them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from ponte.core.errors import SpecError

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]


@dataclass(frozen=True)
class LoadedYaml:
    """A parsed YAML document: plain data plus where each key (or list item) and its value start."""

    file: str
    data: Any
    key_positions: dict[KeyPath, Position] = field(repr=False)
    value_positions: dict[KeyPath, Position] = field(repr=False)
    lines: tuple[str, ...] = field(repr=False, default=())
    # Key paths renamed by `vocabulary.normalise` → the path as the user spelt it, so messages name their key.
    spelled: dict[KeyPath, KeyPath] = field(repr=False, default_factory=dict)

    def position(self, key_path: KeyPath) -> Position | None:
        """Line and column of the key (or list item) at `key_path`, or None if the path is not in the file."""
        return self.key_positions.get(tuple(key_path))

    def value_position(self, key_path: KeyPath) -> Position | None:
        """Line and column where the value at `key_path` starts (same as the key for list items)."""
        return self.value_positions.get(tuple(key_path))

    def nearest_position(self, key_path: KeyPath) -> Position:
        """Position of `key_path` or of its closest ancestor present in the file (1, 1 at worst)."""
        path = tuple(key_path)
        while path:
            found = self.key_positions.get(path)
            if found:
                return found
            path = path[:-1]
        return self.key_positions.get((), (1, 1))


def load_yaml(path: str | Path, *, display_name: str | None = None) -> LoadedYaml:
    """Read and parse `path`; syntax errors (and duplicate keys) become a SpecError with line:col."""
    file = display_name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}", file=file) from None
    return parse_yaml(text, file=file)


def parse_yaml(text: str, *, file: str) -> LoadedYaml:
    """Parse YAML text (the file name is only used in messages)."""
    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    keys: dict[KeyPath, Position] = {(): (1, 1)}
    values: dict[KeyPath, Position] = {(): (1, 1)}
    data = _plain(node, (), keys, values)
    return LoadedYaml(file, data, keys, values, tuple(text.splitlines()))


def _syntax_error(exc: MarkedYAMLError, file: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or "invalid YAML").strip()
    context = f" ({exc.context.strip()})" if exc.context else ""
    if "duplicate key" in problem:
        message = f"{problem}; each key may appear only once in a mapping"
    else:
        message = f"YAML syntax error: {problem}{context}"
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return SpecError(message, file=file, line=line, column=column)


def _plain(node: Any, path: KeyPath, keys: dict, values: dict) -> Any:
    """Turn ruamel's round-trip nodes into plain JSON-like values, recording positions on the way.

    Mapping keys become strings (YAML `401:` is the key "401") and dates become ISO strings, because
    the data is validated with JSON Schema and handed to code that speaks JSON.
    """
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, value in node.items():
            name = _key_name(key)
            child = (*path, name)
            key_line, key_col = node.lc.key(key)
            value_line, value_col = node.lc.value(key)
            keys[child] = (key_line + 1, key_col + 1)
            values[child] = (value_line + 1, value_col + 1)
            result[name] = _plain(value, child, keys, values)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            keys[child] = values[child] = (line + 1, col + 1)
            items.append(_plain(value, child, keys, values))
        return items
    if isinstance(node, ScalarBoolean):  # an anchored boolean: an int subclass in ruamel
        return bool(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.date):
        return node.isoformat()
    return node


def _key_name(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, dt.date):
        return key.isoformat()
    return str(key)
