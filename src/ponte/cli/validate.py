"""`ponte validate`: check declarations (taps/*.yml, …) against their format before anything runs them.

Run with no paths in CI or before a commit: it validates every declaration of the repo and stops at the
first mistake with `file:line:col key.path: message` (exit 2), the same message a tap would give later.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ponte import linefiles, mapper  # noqa: F401 (importing them registers the checks of line-files and mapping declarations)
from ponte.core.errors import SpecError
from ponte.declaration import find_declarations, load_declaration
from ponte.declaration.explain import explain as reference
from ponte.declaration.registry import DECLARATION_FOLDERS, DECLARATION_FORMATS
from ponte.declaration.validation import has_schema, kind_of
from ponte.service.webhooks import rules  # noqa: F401 (registers the checks of webhook rules)

EXPLAINABLE = [kind for kind in DECLARATION_FOLDERS if has_schema(kind)]
FORMATS = [name for name in DECLARATION_FORMATS if has_schema(name)]  # picked by a `format:` key, e.g. line_files


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository root to search for declarations when no PATHS are given (default: the current folder).",
)
@click.option(
    "--kind",
    type=click.Choice(EXPLAINABLE + FORMATS),
    default=None,
    help="Format of the PATHS when their folder does not tell (taps/ → tap; a `format:` key in the file wins).",
)
@click.option(
    "--explain",
    type=click.Choice(EXPLAINABLE + FORMATS),
    default=None,
    help="Print the reference of a declaration format (keys, types, allowed values) and exit.",
)
@click.option(
    "--strict",
    is_flag=True,
    default=False,
    help="Treat deprecated spellings (old keys that still work for one release) as errors.",
)
def validate(paths: tuple[Path, ...], root: Path | None, kind: str | None, explain: str | None, strict: bool) -> None:
    """Validate declarations: PATHS, or every taps/*.yml (and other kinds) under --root.

    Deprecated spellings are printed as warnings (each with `file:line:col` and the new key); `--strict`
    fails on them, so CI can keep a repository on the current vocabulary.
    """
    if explain:
        click.echo(reference(explain), nl=False)
        return
    base = root or Path(".")
    if paths:
        files = [f for path in paths for f in (sorted(path.glob("*.yml")) if path.is_dir() else [path])]
        targets = [(kind or _kind_for(path), path) for path in files]
    else:
        targets = find_declarations(base)
        if not targets:
            folders = ", ".join(f"{DECLARATION_FOLDERS[k]}/" for k in EXPLAINABLE)
            raise SpecError(
                f"no declarations found under {base.resolve()} (looked in {folders}); pass --root or file paths"
            )
    deprecated = 0
    for target_kind, path in targets:
        declaration = load_declaration(path, target_kind, display_name=_display(path), log_deprecations=False)
        for item in declaration.deprecations:
            click.echo(f"{'error' if strict else 'warning'}: {item}", err=True)
        deprecated += len(declaration.deprecations)
        click.echo(f"ok  {declaration.file} ({declaration.summary})")
    if strict and deprecated:
        raise SpecError(
            f"{deprecated} deprecated spelling(s) (listed above) under --strict; write the new keys "
            "(`ponte validate --explain <kind>` lists each old spelling and its replacement)"
        )


def _kind_for(path: Path) -> str:
    found = kind_of(path)
    if found is None or found not in EXPLAINABLE:
        folders = ", ".join(f"{DECLARATION_FOLDERS[k]}/ → {k}" for k in EXPLAINABLE)
        raise SpecError(f"cannot tell the format from the folder ({folders}); pass --kind", file=str(path))
    return found


def _display(path: Path) -> str:
    """The path as short as possible: relative to the current folder when it is inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative
