"""The line_files format: taps/keyence.yml validates, mistakes point at their line, lines parse or are rejected."""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from ponte.cli.validate import validate
from ponte.core.errors import SpecError
from ponte.declaration import find_declarations, load_declaration
from ponte.declaration.explain import explain
from ponte.declaration.registry import DECLARATION_FORMATS, LINE_COLUMN_TYPES
from ponte.linefiles.declaration import LineFormat, load_line_format
from ponte.linefiles.parsing import LineParser, Rejected

ROOT = Path(__file__).parents[2]
KEYENCE = ROOT / "taps" / "keyence.yml"
TEXT = KEYENCE.read_text(encoding="utf-8")
GOOD_LINE = "2026-11-23 14:03:07.250;LINHA-01;KV-01;OP000123;12345;17"


def write(tmp_path: Path, old: str = "", new: str = "") -> Path:
    if old:
        assert TEXT.count(old) == 1, old
    path = tmp_path / "taps" / "keyence.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEXT.replace(old, new) if old else TEXT, encoding="utf-8")
    return path


def error(tmp_path: Path, old: str, new: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_declaration(write(tmp_path, old, new), "tap", display_name="taps/keyence.yml")
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_keyence_declaration_is_a_line_files_tap_in_taps(tmp_path: Path) -> None:
    declaration = load_declaration(KEYENCE, "tap")
    assert declaration.kind == "line_files"
    fmt = LineFormat.from_data(declaration.data)
    assert [c.name for c in fmt.columns] == ["lido_em", "linha", "sensor", "ordem_producao", "produzidos", "rejeitados"]
    assert (fmt.delimiter, fmt.glob, fmt.encoding, fmt.lines_stream, fmt.rejects_stream) == (
        ";",
        "*.txt",
        "utf-8",
        "leituras",
        "linhas_invalidas",
    )
    assert fmt.counters is not None and fmt.counters.active_view == "producao_ordens_ativas"
    write(tmp_path)
    assert ("tap", tmp_path / "taps" / "keyence.yml") in find_declarations(tmp_path)


def test_validate_command_handles_both_formats() -> None:
    result = CliRunner().invoke(validate, ["--root", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "ok  taps/keyence.yml (line_files)" in result.output.replace(str(ROOT) + "/", "")
    assert any("streams)" in line for line in result.output.splitlines())  # the REST ones, unchanged
    explained = CliRunner().invoke(validate, ["--explain", "line_files"])
    assert "lines.columns[].type*  (one of: string, integer, number, boolean, timestamp, date)" in explained.output


def test_schema_is_valid_and_in_step_with_the_registry() -> None:
    text = (
        resources.files("ponte.declaration").joinpath("schemas", "line_files.schema.json").read_text(encoding="utf-8")
    )
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    assert tuple(schema["$defs"]["column"]["properties"]["type"]["enum"]) == LINE_COLUMN_TYPES
    assert DECLARATION_FORMATS == {"line_files": "tap"}
    assert explain("line_files").startswith("line-files tap declaration")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "format: line_files\n",
            "format: csv\n",
            ":18:9 format: unknown format 'csv' for a tap declaration; known: line_files",
        ),
        ("format: line_files\n", "", "files: unknown key 'files'"),  # no format key: a REST tap, which it is not
        ('  delimiter: ";"\n', '  delimiter: ";"\n  quote: \'"\'\n', "lines.quote: unknown key"),
        ("    - name: linha\n", "    - name: lido_em\n", "lines.columns.1.name: column 'lido_em' is already declared"),
        (
            "      type: timestamp\n",
            "      type: integer\n",
            "only timestamp and date columns have a format, not integer",
        ),
        ('format: "%Y-%m-%d %H:%M:%S.%f"', 'format: "%H:%M:%S"', "lines.columns.0.format: '%H:%M:%S' has no date part"),
        ("  timezone: America/Sao_Paulo\n", "  timezone: America/Recif\n", "lines.timezone: unknown time zone"),
        ("  encoding: utf-8\n", "  encoding: utf-16\n", "files.encoding: 'utf-16' does not write a newline"),
        ("  produced: produzidos\n", "  produced: producao\n", "counters.produced: no column 'producao'"),
        (
            "  read_at: lido_em\n",
            "  read_at: linha\n",
            "counters.read_at: column 'linha' is string, expected timestamp",
        ),
        ("  rejects: linhas_invalidas\n", "  rejects: leituras\n", "streams.rejects: must differ from streams.lines"),
        ("    required: true\n", "", "declare a setting `folder`"),
    ],
)
def test_mistakes_point_at_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in error(tmp_path, old, new)


def test_a_rest_declaration_is_not_a_line_files_tap() -> None:
    with pytest.raises(SpecError, match="REST tap declaration"):
        load_line_format(ROOT / "taps" / "sienge.yml")


# -- parsing ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parser() -> LineParser:
    return LineParser(load_line_format(KEYENCE))


def test_a_good_line_becomes_typed_values(parser: LineParser) -> None:
    assert parser.parse(GOOD_LINE) == {
        "lido_em": "2026-11-23T14:03:07.250000-03:00",
        "linha": "LINHA-01",
        "sensor": "KV-01",
        "ordem_producao": "OP000123",
        "produzidos": 12345,
        "rejeitados": 17,
    }
    assert parser.parse(GOOD_LINE.replace(".250", ".2").replace(";", " ; "))["lido_em"].startswith(
        "2026-11-23T14:03:07.2"
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-11-23 14:03:07.250;LINHA-01;KV-01;OP000123;12a45;17", "field 5 (produzidos): '12a45' is not an integer"),
        ("2026-11-23 14:03:07.250;LINHA-01;KV-01;OP000123", "expected 6 fields separated by ';', found 4"),
        ("#GATEWAY buffer overflow", "expected 6 fields separated by ';', found 1"),
        ("2026-11-23 14:03:07.250;LINHA-01;;OP000123;1;0", "field 3 (sensor) is empty and the column is not nullable"),
        (
            "23/11/2026 14:03:07;LINHA-01;KV-01;OP000123;1;0",
            "does not match the timestamp format '%Y-%m-%d %H:%M:%S.%f'",
        ),
        ("2026-02-30 14:03:07.250;LINHA-01;KV-01;OP000123;1;0", "is not a valid timestamp (day is out of range"),
    ],
)
def test_bad_lines_are_rejected_with_a_reason(parser: LineParser, line: str, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parser.parse(line)
    assert reason in caught.value.reason


def test_other_layouts_are_declarable(tmp_path: Path) -> None:
    """`prod=12345` fields, decimal commas, nullable columns, booleans, dates: a plant changes the YAML only."""
    path = tmp_path / "taps" / "plant.yml"
    path.parent.mkdir()
    path.write_text(
        textwrap.dedent(
            """\
            format: line_files
            version: 1
            name: plant
            settings: [{name: folder, kind: string, required: true}]
            files: {glob: "*.log", encoding: latin-1, header_lines: 1}
            lines:
              delimiter: ";"
              timezone: America/Sao_Paulo
              columns:
                - {name: lido_em, type: timestamp, format: "%d/%m/%Y %H:%M:%S"}
                - {name: linha, type: string}
                - {name: produzidos, type: integer, prefix: "prod="}
                - {name: peso, type: number, decimal_separator: ","}
                - {name: ativo, type: boolean, nullable: true}
                - {name: dia, type: date, format: "%d/%m/%Y"}
            streams: {lines: medidas, rejects: medidas_invalidas}
            """
        ),
        encoding="utf-8",
    )
    fmt = load_line_format(path)
    parser = LineParser(fmt)
    record = parser.parse("23/11/2026 14:03:07;L1;prod=12;1,5;;01/12/2026")
    assert record == {
        "lido_em": "2026-11-23T14:03:07-03:00",
        "linha": "L1",
        "produzidos": 12,
        "peso": 1.5,
        "ativo": None,
        "dia": "2026-12-01",
    }
    with pytest.raises(Rejected, match=r"field 3 \(produzidos\): expected 'prod=' before the value"):
        parser.parse("23/11/2026 14:03:07;L1;12;1,5;true;01/12/2026")
    with pytest.raises(Rejected, match=r"decimal separator ','"):
        parser.parse("23/11/2026 14:03:07;L1;prod=1;1.5;true;01/12/2026")
