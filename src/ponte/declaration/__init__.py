"""Declarations (the YAML files users edit): load them with positions, validate them, explain their format.

Other packages use `load_tap_spec` (a tap reads its `taps/<source>.yml`) and `find_declarations`
(`ponte validate` walks the repo); errors are SpecErrors carrying file:line:col and the key path.
"""

from ponte.declaration.validation import Declaration, find_declarations, load_declaration, load_tap_spec

__all__ = ["Declaration", "find_declarations", "load_declaration", "load_tap_spec"]
