"""Point a message at a place in a declaration: key path → `file:line:col key.path: message`.

Schema errors and semantic checks both end here, so every message users see has the same shape.
"""

from __future__ import annotations

from ponte.core.errors import SpecError
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml


def dotted(path: KeyPath) -> str:
    """`("streams", 3, "paginator")` → `streams.3.paginator` (how messages name a key)."""
    return ".".join(str(part) for part in path)


def parse_dotted(text: str) -> KeyPath:
    """Inverse of `dotted` (digits become list indexes), for engine errors that carry a dotted key path."""
    return tuple(int(part) if part.isdigit() else part for part in text.split(".") if part)


def spec_error(loaded: LoadedYaml, path: KeyPath, message: str, *, at_key: bool = False) -> SpecError:
    """A SpecError at the value of `path` (or at its key when `at_key`), falling back to the nearest ancestor.

    Values are the usual target (a wrong enum, a missing file); keys are for unknown keys, so the caret
    lands on the typo rather than on what follows it.
    """
    path = tuple(path)
    position = loaded.position(path) if at_key else loaded.value_position(path)
    line, column = position or loaded.nearest_position(path)
    named = loaded.spelled.get(path, path)
    return SpecError(message, file=loaded.file, line=line, column=column, key_path=dotted(named) or None)


def sort_key(error: SpecError) -> tuple[int, int]:
    """Order errors as they appear in the file, so the one reported is the first a reader meets."""
    return (error.line or 0, error.column or 0)
