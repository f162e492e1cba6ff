"""`ponte-mapper` as Meltano runs it: a subprocess reading Singer messages on stdin, writing them on stdout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ponte.runlog.dead_letters import FileDeadLetterStore
from ponte.testing import SingerRun, console_script

MAPPING = """\
version: 1
name: shop-to-portal
mappings:
  - source: items
    target: products
    key: [erpId]
    filter: "status != 'E'"
    fields:
      erpId: {from: id, type: integer}
      description: {expr: "name.strip()", type: string}
      active: {from: status, lookup: {A: true, I: false}}
      price: {expr: "price * 2", type: number}
  - source: items
    target: shops
    key: [code]
    group_by: [code]
    fields:
      code: {from: shop}
      name: {expr: "shop.upper()", type: string}
  - source: lines
    target: orders
    key: [code]
    group_by: [code]
    fields:
      code: {from: order}
    collect:
      skus: {from: sku, distinct: true, sort: true}
"""


def schema(stream: str, *fields: str) -> dict[str, Any]:
    props = {f: {"type": ["string", "number", "null"]} for f in fields}
    return {"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": props}, "key_properties": []}


def record(stream: str, **values: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": values}


def state(n: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"n": n}}


def run_mapper(tmp_path: Path, messages: list[dict[str, Any]], mapping: str = MAPPING, **config: Any) -> SingerRun:
    (tmp_path / "transforms").mkdir(exist_ok=True)
    (tmp_path / "transforms" / "shop-to-portal.yml").write_text(mapping)
    (tmp_path / "config.json").write_text(json.dumps({"mapping": "transforms/shop-to-portal.yml", **config}))
    stdin = "".join(json.dumps(m) + "\n" for m in messages)
    process = subprocess.run(
        [console_script("ponte-mapper"), "--config", "config.json"],
        input=stdin.encode(),
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    out = [json.loads(line) for line in process.stdout.splitlines() if line.startswith(b"{")]
    return SingerRun(process.returncode, process.stderr.decode(errors="replace"), out)


ITEMS = [
    schema("items", "id", "name", "status", "price", "shop"),
    record("items", id="1", name=" Pen ", status="A", price=2.5, shop="sp"),
    state(1),
    record("items", id=2, name="Ink", status="E", price=1, shop="rj"),
    record("items", id=3, name="Cap", status="I", price=0, shop="sp"),
    state(2),
]


def test_records_are_mapped_filtered_typed_and_state_follows_the_groups(tmp_path: Path) -> None:
    run = run_mapper(tmp_path, [*ITEMS, schema("noise", "x"), record("noise", x="1")])
    assert run.returncode == 0, run.stderr
    assert run.records("products") == [
        {"erpId": 1, "description": "Pen", "active": True, "price": 5.0},
        {"erpId": 3, "description": "Cap", "active": False, "price": 0},
    ]
    # items feeds two mappings; the deleted item 2 is dropped by the filter of products only
    assert run.records("shops") == [{"code": "sp", "name": "SP"}, {"code": "rj", "name": "RJ"}]
    assert "noise" not in run.counts()
    assert "stream=noise dropped" in run.stderr
    kinds = [(m["type"], m.get("stream")) for m in run.messages]
    # grouped output is written at the end, so the STATE (only the last) waits until after it
    assert kinds[-1] == ("STATE", None) and run.of_type("STATE") == [{"type": "STATE", "value": {"n": 2}}]
    assert kinds.index(("SCHEMA", "products")) < kinds.index(("RECORD", "products"))
    assert kinds.index(("SCHEMA", "shops")) < kinds.index(("RECORD", "shops"))
    products = next(m for m in run.of_type("SCHEMA") if m["stream"] == "products")
    assert products["key_properties"] == ["erpId"]
    assert products["schema"]["properties"]["erpId"]["type"] == ["integer"]
    assert products["schema"]["properties"]["active"]["type"] == ["boolean", "null"]


def test_group_and_collect_make_one_record_per_group_with_a_sorted_distinct_list(tmp_path: Path) -> None:
    lines = [record("lines", order=f"O{n % 3}", sku=f"S{(n * 7) % 5}") for n in range(30)]
    run = run_mapper(tmp_path, [schema("lines", "order", "sku"), *lines])
    assert run.returncode == 0, run.stderr
    expected: dict[str, set[str]] = {}
    for line in lines:
        expected.setdefault(line["record"]["order"], set()).add(line["record"]["sku"])
    assert run.records("orders") == [{"code": code, "skus": sorted(skus)} for code, skus in expected.items()]


def test_state_passes_through_in_place_when_nothing_is_grouped(tmp_path: Path) -> None:
    ungrouped = MAPPING.split("  - source: items\n    target: shops")[0]
    run = run_mapper(tmp_path, ITEMS, mapping=ungrouped)
    assert run.returncode == 0, run.stderr
    kinds = [m["type"] for m in run.messages]
    assert kinds == ["SCHEMA", "RECORD", "STATE", "RECORD", "STATE"]


def test_a_schema_update_bringing_a_new_field_changes_nothing_downstream(tmp_path: Path) -> None:
    """A tap announces a field its declaration lacks mid-stream (ponte.tap.undeclared_fields): mapped as before."""
    ungrouped = MAPPING.split("  - source: items\n    target: shops")[0]
    grown = schema("items", "id", "name", "status", "price", "shop", "socialName")
    late = record("items", id=4, name="Ink", status="A", price=1, shop="rj", socialName="Tinta")
    run = run_mapper(tmp_path, [*ITEMS[:2], grown, late, state(3)], mapping=ungrouped)
    assert run.returncode == 0, run.stderr
    assert run.records("products") == [
        {"erpId": 1, "description": "Pen", "active": True, "price": 5.0},
        {"erpId": 4, "description": "Ink", "active": True, "price": 2},
    ]
    assert [m["stream"] for m in run.of_type("SCHEMA")] == ["products"]


def test_a_failing_record_stops_the_run_naming_file_stream_record_and_field(tmp_path: Path) -> None:
    bad = [{**ITEMS[0], "key_properties": ["id"]}, record("items", id=9, name=None, status="A", price=1, shop="x")]
    run = run_mapper(tmp_path, bad)
    assert run.returncode == 5
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("ponte-mapper: transforms/shop-to-portal.yml:10:20 mapping items → products")
    assert "record {'id': 9}" in line and "field 'description'" in line and "name.strip()" in line


@pytest.mark.parametrize(
    "config",
    [
        {"dead_letter_store": "file", "dead_letter_path": "dlq.jsonl"},  # the settings every plugin kind has
        {"dead_letters": {"type": "file", "path": "dlq.jsonl"}},  # the deprecated object, for one release
    ],
    ids=["dead_letter_settings", "deprecated_object"],
)
def test_with_dead_letters_a_failing_record_is_kept_aside_and_the_run_goes_on(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    bad = record("items", id=9, name="X", status="A", price="two", shop="x")
    run = run_mapper(tmp_path, [*ITEMS[:2], bad], **config)
    assert run.returncode == 0, run.stderr
    deprecated = "setting dead_letters is deprecated; set dead_letter_store" in run.stderr
    assert deprecated == ("dead_letters" in config)
    assert [r["erpId"] for r in run.records("products")] == [1]
    assert [s["code"] for s in run.records("shops")] == ["sp", "x"]  # its other mapping still ran
    assert "orders" not in {m["stream"] for m in run.of_type("SCHEMA")}  # no source of orders was read
    letters = FileDeadLetterStore(tmp_path / "dlq.jsonl").list()
    assert [(x.stream, x.entity, x.record["id"]) for x in letters] == [("items", "products", 9)]
    assert "field 'price'" in letters[0].reason and "shop-to-portal.yml:12:" in letters[0].reason


def test_a_schema_message_without_a_mapped_field_fails_before_any_record(tmp_path: Path) -> None:
    run = run_mapper(tmp_path, [schema("items", "id", "name", "status", "shop"), *ITEMS[1:]])
    assert run.returncode == 2
    assert "transforms/shop-to-portal.yml:12:21 mappings.0.fields.price.expr: field 'price'" in run.stderr
    assert run.records("products") == []


def test_a_bad_mapping_fails_at_start_without_reading_stdin(tmp_path: Path) -> None:
    (tmp_path / "transforms").mkdir()
    (tmp_path / "transforms" / "shop-to-portal.yml").write_text(MAPPING.replace("key: [code]", "key: [kode]", 1))
    (tmp_path / "config.json").write_text(json.dumps({"mapping": "transforms/shop-to-portal.yml"}))
    # stdin stays open and empty: a mapper that waited for input would time out here instead of exiting
    with subprocess.Popen(
        [console_script("ponte-mapper"), "--config", "config.json"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.wait(timeout=60) == 2
        err = process.stderr.read()  # type: ignore[union-attr]
    assert (
        "transforms/shop-to-portal.yml:15:11 mappings.1.key.0: key field 'kode' is not an output field" in err.decode()
    )


def test_about_lists_the_settings() -> None:
    out = subprocess.run(
        [console_script("ponte-mapper"), "--about", "--format", "json"], capture_output=True, check=True
    )
    about = json.loads(out.stdout)
    assert about["name"] == "ponte-mapper"
    assert {"mapping", "dead_letter_store", "dead_letter_path", "dead_letter_dsn"} <= set(
        about["settings"]["properties"]
    )
