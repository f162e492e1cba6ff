"""Where a declaration file is looked up: `$PONTE_<FOLDER>_DIR`, then `./<folder>` (Meltano runs plugins from
the project root), then the `<folder>/` of the checkout this package was installed from (editable installs).

Kept apart from the console scripts so a target finds its YAML without importing the tap machinery
(singer-sdk), which costs seconds at every start.
"""

from __future__ import annotations

import os
from pathlib import Path


def declaration_path(source: str, folder: str = "taps") -> Path:
    """Where `<folder>/<source>.yml` is; the first candidate if none exists (so the error names it).

    `$PONTE_<FOLDER>_DIR` (e.g. PONTE_TAPS_DIR, PONTE_TARGETS_DIR) comes first.
    """
    candidates = []
    override = os.environ.get(f"PONTE_{folder.upper()}_DIR")
    if override:
        candidates.append(Path(override))
    candidates.append(Path.cwd() / folder)
    candidates.append(Path(__file__).resolve().parents[3] / folder)
    for where in candidates:
        if (where / f"{source}.yml").is_file():
            return where / f"{source}.yml"
    return candidates[0] / f"{source}.yml"
