"""Console scripts `tap-sienge`, `tap-bling`, …: each builds its Tap class from `taps/<source>.yml`.

The declaration is looked up in `$PONTE_TAPS_DIR`, then `./taps` (Meltano runs plugins from the project
root), then the `taps/` folder of the checkout this package was installed from (editable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ponte.errors import PonteError
from ponte.spec import load_tap_spec
from ponte.tap.factory import build_tap_class


def declaration_path(source: str) -> Path:
    """Where `taps/<source>.yml` is; the first candidate if none exists (so the error names it)."""
    candidates = []
    if os.environ.get("PONTE_TAPS_DIR"):
        candidates.append(Path(os.environ["PONTE_TAPS_DIR"]))
    candidates.append(Path.cwd() / "taps")
    candidates.append(Path(__file__).resolve().parents[3] / "taps")
    for folder in candidates:
        if (folder / f"{source}.yml").is_file():
            return folder / f"{source}.yml"
    return candidates[0] / f"{source}.yml"


def run_tap(source: str) -> None:
    """Load and validate the declaration, then hand over to singer-sdk's command line."""
    path = declaration_path(source)
    try:
        declaration = load_tap_spec(path)
        tap_class = build_tap_class(declaration.data, declaration.base_dir, declaration.file)
    except PonteError as exc:
        print(f"tap-{source}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    tap_class.cli()


def tap_sienge() -> None:
    """`tap-sienge`: Sienge Plataforma REST API v1."""
    run_tap("sienge")


def tap_bling() -> None:
    """`tap-bling`: Bling ERP API v3 (several accounts, OAuth2 with rotating refresh tokens)."""
    run_tap("bling")
