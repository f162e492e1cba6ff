"""`lookup_file`: a field's lookup table read from a CSV next to the mapping (e.g. CPFs from an HR export).

The CSV is UTF-8 (a BOM is fine), its first row names the columns, and its delimiter is `,` or `;`
(recognised from the header). It is read once, when the mapping is validated or the mapper starts; a file
or column that is missing is a SpecError at the `lookup_file` of the YAML, never a surprise mid-run.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ponte.core.errors import SpecError
from ponte.declaration.locate import spec_error
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

DELIMITERS = ",;"
_cache: dict[tuple[Path, int, int, str, str], dict[str, str]] = {}


class _Problem(Exception):
    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where  # the key of `lookup_file` the message is about: path, key or value


def lookup_file_path(spec: Mapping[str, Any], base_dir: Path) -> Path:
    """The CSV's path: `path` relative to the folder of the mapping file."""
    path = Path(spec["path"])
    return path if path.is_absolute() else base_dir / path


def read_lookup_file(spec: Mapping[str, Any], base_dir: Path, loaded: LoadedYaml, key_path: KeyPath) -> dict[str, str]:
    """The table `key` column → `value` column of a field's `lookup_file` (`key_path` is the field's path).

    Rows whose key or value cell is empty are skipped (a key without a value is "not in the table").
    """
    try:
        return _read(lookup_file_path(spec, base_dir), str(spec["path"]), str(spec["key"]), str(spec["value"]))
    except _Problem as problem:
        raise spec_error(loaded, (*key_path, "lookup_file", problem.where), str(problem)) from None


def check_lookup_files(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> list[SpecError]:
    """Every `lookup_file` of a mapping declaration can be read and has its columns (for `ponte validate`)."""
    problems = []
    for index, item in enumerate(data.get("mappings") or []):
        for name, spec in (item.get("fields") or {}).items():
            if isinstance(spec, Mapping) and "lookup_file" in spec:
                try:
                    read_lookup_file(spec["lookup_file"], base_dir, loaded, ("mappings", index, "fields", name))
                except SpecError as exc:
                    problems.append(exc)
    return problems


def _read(path: Path, shown: str, key: str, value: str) -> dict[str, str]:
    try:
        stat = path.stat()
    except OSError:
        raise _Problem(
            f"lookup file {shown} not found (looked for {path.resolve()}; the path is relative to the mapping file)",
            "path",
        ) from None
    marker = (path.resolve(), stat.st_mtime_ns, stat.st_size, key, value)
    if marker not in _cache:
        _cache[marker] = _parse(path, shown, key, value)
    return _cache[marker]


def _parse(path: Path, shown: str, key: str, value: str) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Problem(f"cannot read lookup file {shown}: {exc} (it must be UTF-8 text)", "path") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise _Problem(f"lookup file {shown} is empty; its first line must name the columns", "path")
    reader = csv.reader(lines, delimiter=_delimiter(lines[0], key, value))
    header = [cell.strip() for cell in next(reader)]
    for where, column in (("key", key), ("value", value)):
        if column not in header:
            raise _Problem(f"lookup file {shown} has no column '{column}'; its columns: {', '.join(header)}", where)
    k, v = header.index(key), header.index(value)
    table: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        cells = [cell.strip() for cell in row]
        found_key = cells[k] if k < len(cells) else ""
        found_value = cells[v] if v < len(cells) else ""
        if not found_key or not found_value:
            continue
        if table.get(found_key, found_value) != found_value:
            raise _Problem(
                f"lookup file {shown} line {line}: key '{found_key}' appears twice with different values "
                f"('{table[found_key]}', '{found_value}')",
                "path",
            )
        table[found_key] = found_value
    return table


def _delimiter(header: str, key: str, value: str) -> str:
    """`,` or `;`: the one that splits the header into the named columns, else csv.Sniffer's guess."""
    for delimiter in DELIMITERS:
        columns = [c.strip() for c in next(csv.reader([header], delimiter=delimiter))]
        if key in columns and value in columns:
            return delimiter
    try:
        return csv.Sniffer().sniff(header, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","
