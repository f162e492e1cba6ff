"""Declarations (the YAML files users edit): load them with positions, validate them, explain their format.

Other packages use `load_tap_spec` (a tap reads its `taps/<source>.yml`) and `find_declarations`
(`ponte validate` walks the repo); errors are SpecErrors carrying file:line:col and the key path.

The names are imported on first use: a plugin that only needs a model (`ponte.declaration.models`, e.g.
target-postgres through the HTTP retry defaults) does not pay for the YAML loader and JSON Schema validator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ponte.declaration.validation import Declaration, find_declarations, load_declaration, load_tap_spec

__all__ = ["Declaration", "find_declarations", "load_declaration", "load_tap_spec"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ponte.declaration import validation

        return getattr(validation, name)
    raise AttributeError(f"module 'ponte.declaration' has no attribute {name!r}")
