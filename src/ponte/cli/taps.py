"""Console scripts `tap-sienge`, `tap-bling`, …: each builds its Tap class from `taps/<source>.yml`.

The declaration is looked up by `ponte.declaration.declaration_paths` (`$PONTE_TAPS_DIR`, `./taps`, the checkout's).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ponte.core.errors import PonteError
from ponte.core.log_level import misnamed_level_warning
from ponte.declaration import load_tap_spec
from ponte.declaration.declaration_paths import declaration_path
from ponte.tap.factory import build_tap_class


def run_tap(source: str) -> None:
    """Load and validate the declaration, then hand over to singer-sdk's command line."""
    path = declaration_path(source)
    if warning := misnamed_level_warning(f"tap-{source.split('-')[0]}"):
        print(warning, file=sys.stderr)
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


def configured_value(source: str, setting: str, argv: list[str] | None = None) -> str | None:
    """A setting's value before the Tap exists: the last `--config` file holding it, else `TAP_<SOURCE>_<SETTING>`.

    Needed when the setting decides which declaration to load (tap-totvs's `flavour`).
    """
    args = sys.argv[1:] if argv is None else argv
    found = None
    for index, arg in enumerate(args):
        path = args[index + 1] if arg == "--config" and index + 1 < len(args) else None
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        if path and path != "ENV" and Path(path).is_file():
            try:
                found = json.loads(Path(path).read_text(encoding="utf-8")).get(setting, found)
            except (ValueError, AttributeError):
                continue
    return found or os.environ.get(f"TAP_{source.upper()}_{setting.upper()}") or None


TOTVS_FLAVOURS = ("protheus", "plant", "rm")


def tap_totvs() -> None:
    """`tap-totvs`: TOTVS Protheus REST, the plant's own TOTVS API or RM Educacional, by the `flavour` setting."""
    flavour = str(configured_value("totvs", "flavour") or "protheus").strip().lower()
    if flavour not in TOTVS_FLAVOURS:
        print(
            f"tap-totvs: flavour '{flavour}' is not one of {', '.join(TOTVS_FLAVOURS)}; set TAP_TOTVS_FLAVOUR",
            file=sys.stderr,
        )
        sys.exit(2)
    run_tap(f"totvs-{flavour}")
