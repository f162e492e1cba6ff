"""Where to find Ponte's and Meltano's console scripts: beside the running interpreter first.

A run started from the project's virtualenv must start that virtualenv's `meltano`, `tap-*` and `target-*`,
not whatever a PATH happens to hold.
"""

from __future__ import annotations

import sys
from pathlib import Path


def console_script(name: str) -> str:
    """The console script installed next to the running interpreter (the project's virtualenv), else `name`."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
