"""The mapping engine in-process: expressions, field rules (lookup, default, type), group lists, load-time checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ponte.core.errors import SpecError
from ponte.mapper import load_mapping
from ponte.mapper.expressions import Expression, ExpressionError, field_references
from ponte.mapper.fields import CollectRule, FieldError, FieldRule, coerce
from ponte.mapper.group_store import GroupStore

ROOT = Path(__file__).resolve().parents[2]


def test_expressions_see_record_fields_and_the_helper_functions() -> None:
    record = {"cpf": "123.456.789-09", "nome": " Caneta ", "situacao": "A", "estoque": {"saldo": 3}}
    assert Expression("digits(cpf)").evaluate(record, "s") == "12345678909"
    assert Expression("nome.strip().upper()").evaluate(record, "s") == "CANETA"
    assert Expression("record['estoque']['saldo'] * 2").evaluate(record, "s") == 6
    assert Expression("situacao != 'E' and __stream_name__ == 's'").evaluate(record, "s") is True
    assert Expression("f'{situacao}-{len(cpf)}'").evaluate(record, "s") == "A-14"


def test_expression_errors_say_what_failed() -> None:
    with pytest.raises(ExpressionError, match="nope"):
        Expression("nope + 1").evaluate({"a": 1}, "s")
    with pytest.raises(ExpressionError, match="TypeError"):
        Expression("a + 'x'").evaluate({"a": 1}, "s")
    with pytest.raises(ExpressionError, match="invalid expression"):
        Expression("a +")


def test_field_references_skip_functions_and_bound_names() -> None:
    refs = set(field_references("digits(cpf) + ''.join(c for c in nome if c) + record['conta'] + estoque['saldo']"))
    assert refs == {("cpf",), ("nome",), ("conta",), ("estoque", "saldo")}
    assert set(field_references("_.get('x') or y")) == {("x",), ("y",)}


def test_lookup_default_and_type() -> None:
    active = FieldRule.from_spec(
        "active", {"from": "situacao", "lookup": {"A": True, "I": False}, "default": False}, ()
    )
    assert [active.value({"situacao": s}, "p") for s in ("A", "I", "X", None)] == [True, False, False, False]
    strict = FieldRule.from_spec("t", {"from": "k", "lookup": {"1": "um"}}, ())
    assert strict.value({"k": 1}, "p") == "um"  # lookup keys are YAML strings; numbers match by text
    with pytest.raises(FieldError, match="not in the lookup table"):
        strict.value({"k": 2}, "p")
    nested = FieldRule.from_spec("stock", {"from": "estoque.saldo", "type": "number"}, ())
    assert nested.value({"estoque": {"saldo": "2,5"}}, "p") == 2.5
    assert nested.value({"estoque": None}, "p") is None
    const = FieldRule.from_spec("c", {"const": "x"}, ())
    assert const.value({}, "p") == "x"


def test_coercions() -> None:
    assert coerce("42", "integer") == 42
    assert coerce(3.0, "integer") == 3
    assert coerce("", "integer") is None
    assert coerce("sim", "boolean") is True
    assert coerce(7, "string") == "7"
    assert coerce("2026-03-01 10:00:00", "date-time-z") == "2026-03-01T10:00:00Z"
    assert coerce("2026-03-01T10:00:00-03:00", "date-time-z") == "2026-03-01T13:00:00Z"
    assert coerce("2026-03-01", "date-time-z") == "2026-03-01T00:00:00Z"
    for value, kind in (("x", "integer"), (True, "integer"), ("talvez", "boolean"), ("ontem", "date-time-z")):
        with pytest.raises(FieldError):
            coerce(value, kind)


def test_group_store_merges_fields_and_collects_in_order() -> None:
    store = GroupStore()
    try:
        store.add("enrollments", ["T1"], {"code": "T1"}, {"student_codes": "b"})
        store.add("enrollments", ["T2"], {"code": "T2"}, {"student_codes": "c"})
        store.add("enrollments", ["T1"], {"code": "T1", "semester": "2026.1"}, {})
        store.add("enrollments", ["T1"], {"code": "T1"}, {"student_codes": "a"})
        store.add("enrollments", ["T1"], {"code": "T1"}, {"student_codes": "b"})
        groups = list(store.groups("enrollments"))
    finally:
        store.close()
    assert groups == [
        ({"code": "T1", "semester": "2026.1"}, {"student_codes": ["b", "a", "b"]}),
        ({"code": "T2"}, {"student_codes": ["c"]}),
    ]
    rule = CollectRule.from_spec("student_codes", {"from": "x", "distinct": True, "sort": True}, ())
    assert rule.finish(["b", "a", "b", None]) == ["a", "b"]


def _write_mapping(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "transforms"
    folder.mkdir(exist_ok=True)
    path = folder / "rm-to-x.yml"
    path.write_text(f"version: 1\nname: rm-to-x\nsource:\n  tap: {ROOT / 'taps' / 'totvs-rm.yml'}\n{body}")
    return path


def test_a_field_missing_from_the_source_schema_fails_at_load_with_line_and_column(tmp_path: Path) -> None:
    path = _write_mapping(
        tmp_path,
        "mappings:\n"
        "  - source: professores\n"
        "    target: professors\n"
        "    key: [code]\n"
        "    fields:\n"
        "      code: {from: professorCode}\n"
        "      cpf: {expr: 'digits(professorCpf)'}\n",
    )
    with pytest.raises(SpecError) as caught:
        load_mapping(path, display_name="transforms/rm-to-x.yml")
    assert str(caught.value).startswith("transforms/rm-to-x.yml:11:19 mappings.0.fields.cpf.expr: field 'professorCpf'")
    assert "source stream 'professores'" in str(caught.value)


@pytest.mark.parametrize(
    ("mapping", "where", "says"),
    [
        ("fields:\n      code: {from: profesorCode}\n", "10:20", "did you mean 'professorCode'"),
        ('filter: "branchCod == 1"\n    fields:\n      code: {from: professorCode}\n', "9:13", "branchCod"),
        ("fields:\n      code: {from: professorCode}\n    group_by: [cod]\n", "11:16", "group_by field 'cod'"),
        (
            "fields:\n      code: {from: professorCode}\n    group_by: [code]\n    collect:\n      mails: {from: mail}\n",
            "13:21",
            "field 'mail'",
        ),
    ],
)
def test_every_kind_of_reference_is_checked(tmp_path: Path, mapping: str, where: str, says: str) -> None:
    path = _write_mapping(
        tmp_path, f"mappings:\n  - source: professores\n    target: professors\n    key: [code]\n    {mapping}"
    )
    with pytest.raises(SpecError) as caught:
        load_mapping(path, display_name="m.yml")
    assert str(caught.value).startswith(f"m.yml:{where} "), str(caught.value)
    assert says in str(caught.value)


def test_an_unknown_source_stream_is_named_with_the_tap_streams(tmp_path: Path) -> None:
    path = _write_mapping(
        tmp_path,
        "mappings:\n  - source: professor\n    target: p\n    key: [code]\n    fields:\n      code: {const: 1}\n",
    )
    with pytest.raises(SpecError, match=r"m.yml:6:13 .*no stream 'professor' \(did you mean 'professores'\?\)"):
        load_mapping(path, display_name="m.yml")


def test_the_shipped_mappings_load() -> None:
    bling = load_mapping(ROOT / "transforms" / "bling-to-retailportal.yml")
    assert [(m.source, m.target) for m in bling.mappings] == [("produtos", "products")]
    totvs = load_mapping(ROOT / "transforms" / "totvs-to-proextend.yml")
    assert totvs.targets == ["units", "areas", "courses", "subjects", "professors", "students", "enrollments"]
    (professors,) = totvs.for_stream("professores")
    cpf = next(f for f in professors.fields if f.name == "cpf")
    assert cpf.lookup and all(len(v) == 11 and v.isdigit() for v in cpf.lookup.values())


_PROFESSORS = "mappings:\n  - source: professores\n    target: professors\n    key: [code]\n    fields:\n"


def test_lookup_file_translates_from_a_csv_next_to_the_mapping(tmp_path: Path) -> None:
    path = _write_mapping(
        tmp_path,
        _PROFESSORS + "      code: {from: professorCode}\n"
        "      cpf: {from: professorCode, lookup_file: {path: hr/cpf.csv, key: codigo, value: cpf}}\n"
        "      cpf_or_none:\n"
        "        from: professorCode\n"
        "        lookup_file: {path: hr/cpf.csv, key: codigo, value: cpf}\n"
        "        default: sem cpf\n",
    )
    (path.parent / "hr").mkdir()
    # `;` separated (as a spreadsheet exports it), a BOM, an extra column, a row without a value
    (path.parent / "hr" / "cpf.csv").write_text(
        "\ufeffnome;codigo;cpf\nAna;P0001;76412436146\nBia;P0002;\n", encoding="utf-8"
    )
    mapping = load_mapping(path, display_name="m.yml")
    cpf, fallback = mapping.mappings[0].fields[1:]
    assert cpf.value({"professorCode": "P0001"}, "professores") == "76412436146"
    assert fallback.value({"professorCode": "P0001"}, "professores") == "76412436146"
    assert fallback.value({"professorCode": "P0009"}, "professores") == "sem cpf"
    assert fallback.value({"professorCode": "P0002"}, "professores") == "sem cpf"  # empty cell: not in the table
    with pytest.raises(FieldError, match=r"'P0009' is not in hr/cpf.csv \(column codigo\) and the field has no"):
        cpf.value({"professorCode": "P0009"}, "professores")
    assert cpf.output_schema(None) == {"type": ["null", "string"]}


@pytest.mark.parametrize(
    ("csv", "where", "says"),
    [
        (None, "11:54", "lookup file hr/cpf.csv not found"),
        ("codigo,documento\nP0001,76412436146\n", "11:86", "has no column 'cpf'; its columns: codigo, documento"),
        ("codigo,cpf\nP0001,76412436146\nP0001,15154485092\n", "11:54", "line 3: key 'P0001' appears twice"),
    ],
)
def test_lookup_file_problems_are_reported_at_the_yaml(tmp_path: Path, csv: str | None, where: str, says: str) -> None:
    path = _write_mapping(
        tmp_path,
        _PROFESSORS + "      code: {from: professorCode}\n"
        "      cpf: {from: professorCode, lookup_file: {path: hr/cpf.csv, key: codigo, value: cpf}}\n",
    )
    if csv is not None:
        (path.parent / "hr").mkdir()
        (path.parent / "hr" / "cpf.csv").write_text(csv, encoding="utf-8")
    with pytest.raises(SpecError, match=rf"^m.yml:{where} mappings.0.fields.cpf.lookup_file.* {says}"):
        load_mapping(path, display_name="m.yml")


def test_lookup_and_lookup_file_do_not_go_together(tmp_path: Path) -> None:
    path = _write_mapping(
        tmp_path,
        _PROFESSORS + "      code: {from: professorCode}\n"
        "      cpf: {from: professorCode, lookup: {a: b}, lookup_file: {path: x.csv, key: k, value: v}}\n",
    )
    with pytest.raises(SpecError, match=r"m.yml:11:12 .*either `lookup` or `lookup_file`, not both"):
        load_mapping(path, display_name="m.yml")
