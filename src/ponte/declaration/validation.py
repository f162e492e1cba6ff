"""Load a declaration, validate it against the JSON Schema of its kind, then run the kind's semantic checks.

Every YAML file a user edits passes through here before anything uses it, so a mistake is reported once,
as `file:line:col key.path: what is wrong — what was expected`, instead of as a traceback mid-sync.
Adding a kind of declaration is a schema file plus a line in `registry.DECLARATION_FOLDERS` (and, if it
needs checks beyond the schema, a line in `SEMANTIC_CHECKS` or a `register_semantic_check` call in its package). A folder can hold more than one format: a
top-level `format:` key names it (`registry.DECLARATION_FORMATS`), and a declaration without one has its
folder's format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from ponte.core.errors import SpecError
from ponte.declaration.locate import sort_key, spec_error
from ponte.declaration.registry import DECLARATION_FOLDERS, DECLARATION_FORMATS
from ponte.declaration.schema_errors import first_schema_error
from ponte.declaration.shared_settings import add_shared_settings
from ponte.declaration.tap_checks import check_tap
from ponte.declaration.target_checks import check_target
from ponte.declaration.vocabulary import Deprecation, normalise, warn
from ponte.declaration.yaml_loader import LoadedYaml, load_yaml

SemanticCheck = Callable[[Mapping[str, Any], LoadedYaml, Path], Iterable[SpecError]]


SEMANTIC_CHECKS: dict[str, SemanticCheck] = {"tap": check_tap, "target": check_target}
# Kinds whose checks live with their engine (a mapping's fields are checked against its source tap's schemas; a
# line-files format with its reader): the package named here registers them when it is imported.
CHECKS_REGISTERED_BY = {
    "mapping": "ponte.mapper",
    "line_files": "ponte.linefiles",
    "webhooks": "ponte.service.webhooks.rules",
}


def register_semantic_check(kind: str, check: SemanticCheck) -> None:
    """Let a higher layer add the checks of its kind, so this language layer never imports the engines."""
    SEMANTIC_CHECKS[kind] = check


def semantic_check(kind: str) -> SemanticCheck | None:
    """The checks of `kind`; a kind whose package was not imported is a programming error, never a silent pass."""
    check = SEMANTIC_CHECKS.get(kind)
    if check is None and kind in CHECKS_REGISTERED_BY:
        raise RuntimeError(
            f"the checks of '{kind}' declarations are registered by {CHECKS_REGISTERED_BY[kind]}: import it first"
        )
    return check


YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class Declaration:
    """A validated declaration: its plain data, where each key is in the file, and the folder paths start from."""

    kind: str
    file: str
    data: dict[str, Any]
    loaded: LoadedYaml = field(repr=False)
    base_dir: Path
    deprecations: tuple[Deprecation, ...] = ()  # old spellings met (already rewritten in `data`)

    @property
    def summary(self) -> str:
        """What `ponte validate` says about it, e.g. `25 streams`."""
        for key, one in (("streams", "stream"), ("entities", "entity"), ("mappings", "mapping"), ("rules", "rule")):
            items = self.data.get(key)
            if isinstance(items, list):
                return f"{len(items)} {key if len(items) != 1 else one}"
        return self.kind


def has_schema(kind: str) -> bool:
    """True when the format of `kind` has a JSON Schema (only those kinds can be validated)."""
    return resources.files("ponte.declaration").joinpath("schemas", f"{kind}.schema.json").is_file()


@cache
def load_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a kind of declaration, as shipped in the package."""
    if (kind not in DECLARATION_FOLDERS and kind not in DECLARATION_FORMATS) or not has_schema(kind):
        known = ", ".join(k for k in [*DECLARATION_FOLDERS, *DECLARATION_FORMATS] if has_schema(k))
        raise SpecError(f"no format named '{kind}' can be validated yet; known: {known}")
    text = resources.files("ponte.declaration").joinpath("schemas", f"{kind}.schema.json").read_text(encoding="utf-8")
    return _bundle(json.loads(text))


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind))


def _bundle(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline definitions borrowed from another shipped format (`tap.schema.json#/$defs/setting` → `#/$defs/setting`).

    One format reuses another's definitions without copying them; bundled, each schema stands alone for the
    validator and for `--explain`.
    """
    borrowed: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ".schema.json#" in ref:
                other, _, pointer = ref.partition("#")
                borrowed.add(other.removesuffix(".schema.json"))
                node = {**node, "$ref": f"#{pointer}"}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    bundled = walk(schema)
    defs = bundled.setdefault("$defs", {})
    for other in sorted(borrowed):
        for name, definition in load_schema(other).get("$defs", {}).items():
            defs.setdefault(name, definition)
    return bundled


def load_declaration(
    path: str | Path, kind: str = "tap", *, display_name: str | None = None, log_deprecations: bool = True
) -> Declaration:
    """Parse, normalise to the one vocabulary, schema-check and semantically check one declaration.

    Raises SpecError for its first mistake; old spellings are rewritten and logged as deprecations.

    `display_name` is how messages name the file (e.g. relative to the repo root); the path itself by default.
    `log_deprecations=False` leaves reporting them to the caller (`ponte validate` prints them itself).
    """
    path = Path(path)
    validator = _validator(kind)
    loaded = load_yaml(path, display_name=display_name)
    if not isinstance(loaded.data, dict):
        raise SpecError(
            f"expected a mapping of keys at the top of the file (see `ponte validate --explain {kind}`)",
            file=loaded.file,
            line=1,
            column=1,
        )
    chosen = _format_of(kind, loaded)
    if chosen != kind:
        kind, validator = chosen, _validator(chosen)
    loaded, deprecations = normalise(kind, loaded)  # from here on only the new vocabulary exists
    if log_deprecations:
        warn(deprecations)
    add_shared_settings(kind, loaded.data)
    error = first_schema_error(validator.iter_errors(loaded.data), loaded)
    if error is not None:
        raise error
    check = semantic_check(kind)
    if check is not None:
        # The unresolved folder keeps paths in messages as short as the user wrote them.
        problems = sorted(check(loaded.data, loaded, path.parent), key=sort_key)
        if problems:
            raise problems[0]
    return Declaration(
        kind=kind,
        file=loaded.file,
        data=loaded.data,
        loaded=loaded,
        base_dir=path.resolve().parent,
        deprecations=deprecations,
    )


def _format_of(kind: str, loaded: LoadedYaml) -> str:
    """The format a declaration picks with its top-level `format:` key (taps/ also holds line_files taps)."""
    name = loaded.data.get("format")
    if name is None:
        return kind
    if isinstance(name, str) and (DECLARATION_FORMATS.get(name) == kind or (name == kind in DECLARATION_FORMATS)):
        return name
    formats = [f for f, folder in DECLARATION_FORMATS.items() if folder == kind]
    raise spec_error(
        loaded,
        ("format",),
        f"unknown format {name!r} for a {kind} declaration; known: {', '.join(formats) or 'none'} "
        f"(leave `format` out for the {kind} format itself)",
    )


def load_tap_spec(path: str | Path, *, display_name: str | None = None) -> Declaration:
    """A validated `taps/<source>.yml`: what a tap reads before it builds its streams."""
    return load_declaration(path, "tap", display_name=display_name)


def find_declarations(root: str | Path) -> list[tuple[str, Path]]:
    """Every declaration under `root` whose kind has a schema: `(kind, path)` sorted by path.

    Folders of kinds without a schema yet are skipped rather than failed.
    """
    root = Path(root)
    found: list[tuple[str, Path]] = []
    for kind, folder in DECLARATION_FOLDERS.items():
        if not has_schema(kind) or not (root / folder).is_dir():
            continue
        files = [p for p in (root / folder).iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES]
        found.extend((kind, p) for p in sorted(files))
    return found


def kind_of(path: str | Path) -> str | None:
    """The kind a file's folder implies (`taps/x.yml` → tap), or None."""
    folder = Path(path).resolve().parent.name
    for kind, name in DECLARATION_FOLDERS.items():
        if name == folder:
            return kind
    return None
