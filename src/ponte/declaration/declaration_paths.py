"""Where a declaration file is looked up, first match wins:

1. `$PONTE_<FOLDER>_DIR` (PONTE_TAPS_DIR, PONTE_TARGETS_DIR, PONTE_TRANSFORMS_DIR): a user's own declarations;
2. `./<folder>`: Meltano runs plugins from the project root, so a project's own `taps/` etc.;
3. the `<folder>/` of the checkout this package runs from (editable installs: the repository is the source);
4. the copy shipped inside the package (`ponte/bundled/<folder>`, made by setup.py when a wheel is built), so
   the plugins work when installed into any other Meltano project.

Kept apart from the console scripts so a target finds its YAML without importing the tap machinery
(singer-sdk), which costs seconds at every start.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
BUNDLED_DIR = PACKAGE_DIR / "bundled"


def checkout_root() -> Path | None:
    """The repository this package runs from (an editable install's `src/ponte/..`), or None for a wheel."""
    root = PACKAGE_DIR.parents[1]
    return root if PACKAGE_DIR.parent.name == "src" and (root / "pyproject.toml").is_file() else None


def declaration_dirs(folder: str) -> list[Path]:
    """The folders searched for declarations of one kind (`taps`, `targets`, `transforms`), in order."""
    candidates = []
    override = os.environ.get(f"PONTE_{folder.upper()}_DIR")
    if override:
        candidates.append(Path(override))
    candidates.append(Path.cwd() / folder)
    root = checkout_root()
    if root is not None:
        candidates.append(root / folder)
    candidates.append(BUNDLED_DIR / folder)
    return candidates


def declaration_file(relative: str | Path, folder: str) -> Path:
    """Where `<folder>/<relative>` is; the first candidate if none has it (so the error names it)."""
    candidates = [where / relative for where in declaration_dirs(folder)]
    return next((path for path in candidates if path.is_file()), candidates[0])


def declaration_path(source: str, folder: str = "taps") -> Path:
    """Where `<folder>/<source>.yml` is (see the module docstring for the order)."""
    return declaration_file(f"{source}.yml", folder)
