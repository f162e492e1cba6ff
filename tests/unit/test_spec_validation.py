"""Bad tap declarations fail with `file:line:col key.path: message` naming the first mistake and the fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ponte.core.errors import SpecError
from ponte.declaration import Declaration, find_declarations, load_declaration, load_tap_spec

GOOD = textwrap.dedent(
    """\
    # taps/demo.yml: a small but complete tap declaration used by the tests.
    version: 1
    name: demo
    settings:
      - name: token
        kind: string
        required: true
        secret: true
      - name: window
        kind: integer
        default: 120
    base_url: https://api.example.com/v1
    auth:
      type: bearer
      token: "{{ config.token }}"
    rate_limit:
      requests: "{{ config.window }}"
      per_seconds: 60
    defaults:
      paginator: {type: offset, page_size: 100, total_field: meta.total}
      record_selector: data
    streams:
      - name: items
        path: /items
        primary_key: [id]
        schema: {file: demo/items.json}
        replication:
          method: incremental
          cursor_field: updated
          request_param: since
      - name: parts
        parent: items
        path: /items/{{ parent.id }}/parts
        parent_keys: {itemId: id}
        primary_key: [itemId, id]
        paginator: {type: page, has_next_field: hasNext}
        schema:
          inline:
            type: object
            properties:
              id: {type: integer}
    """
)
ITEMS_SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "updated": {"type": "string"}}}


def write_tap(tmp_path: Path, text: str = GOOD) -> Path:
    """A tap declaration at tmp/taps/demo.yml with the schema file it references."""
    (tmp_path / "taps" / "demo").mkdir(parents=True, exist_ok=True)
    (tmp_path / "taps" / "demo" / "items.json").write_text(json.dumps(ITEMS_SCHEMA), encoding="utf-8")
    path = tmp_path / "taps" / "demo.yml"
    path.write_text(text, encoding="utf-8")
    return path


def mutate(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def fail(tmp_path: Path, text: str) -> SpecError:
    path = write_tap(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_tap_spec(path, display_name="taps/demo.yml")
    assert caught.value.exit_code == 2
    return caught.value


def test_good_declaration_loads_with_positions(tmp_path: Path) -> None:
    declaration = load_tap_spec(write_tap(tmp_path))
    assert isinstance(declaration, Declaration)
    assert declaration.kind == "tap"
    assert declaration.summary == "2 streams"
    assert declaration.base_dir == (tmp_path / "taps").resolve()
    assert declaration.data["streams"][1]["parent_keys"] == {"itemId": "id"}
    assert declaration.loaded.position(("streams", 1, "parent")) == (32, 5)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    error = fail(tmp_path, mutate("    path: /items\n", "    path: /items\n     bad: [1, 2\n"))
    assert str(error).startswith("taps/demo.yml:")
    assert error.line is not None and error.column is not None
    assert "YAML syntax error" in str(error)


def test_duplicate_key_is_reported(tmp_path: Path) -> None:
    error = fail(tmp_path, mutate("name: demo\n", "name: demo\nname: other\n"))
    assert error.line == 4
    assert "duplicate key" in str(error)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = fail(tmp_path, "- just\n- a list\n")
    assert str(error).startswith("taps/demo.yml:1:1 expected a mapping")


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            "    primary_key: [id]\n",
            "    primary_keys: [id]\n",
            "taps/demo.yml:25:5 streams.0.primary_keys:",
            "unknown key 'primary_keys' (did you mean 'primary_key'?) — allowed keys: name, description, path,",
        ),
        (
            "{type: page, has",
            "{type: pgae, has",
            "taps/demo.yml:36:23 streams.1.paginator.type:",
            "'pgae' is not one of offset, page, none — did you mean 'page'?",
        ),
        (
            "    path: /items\n",
            "",
            "taps/demo.yml:23:5 streams.0:",
            "missing required key 'path'",
        ),
        (
            "    path: /items\n",
            "    paht: /items\n",
            "taps/demo.yml:24:5 streams.0.paht:",
            "unknown key 'paht' (did you mean 'path'?)",
        ),
        (
            "      cursor_field: updated\n",
            "",
            "taps/demo.yml:27:5 streams.0.replication:",
            "missing required key 'cursor_field' (the default bookmark max_value",
        ),
        (
            "      method: incremental\n      cursor_field: updated\n      request_param: since\n",
            "      method: full_table\n      cursor_field: updated\n",
            "taps/demo.yml:29:7 streams.0.replication.cursor_field:",
            "unknown key 'cursor_field' with method full_table — allowed keys: method",
        ),
        ("version: 1", "version: 2", "taps/demo.yml:2:10 version:", "must be 1, not 2"),
        ("name: demo", "name: Demo", "taps/demo.yml:3:7 name:", "'Demo' is not a snake_case name"),
        (
            "primary_key: [id]",
            "primary_key: id",
            "taps/demo.yml:25:18 streams.0.primary_key:",
            "expected a list, got a string ('id')",
        ),
        (
            "per_seconds: 60",
            "per_seconds: soon",
            "taps/demo.yml:18:16 rate_limit.per_seconds:",
            "expected a number > 0 or a `{{ config.<setting> }}` template, got a string ('soon')",
        ),
        (
            "  type: bearer\n",
            "  type: oauth\n",
            "taps/demo.yml:14:9 auth.type:",
            "'oauth' is not one of basic, bearer, api_key, oauth2, none, select — did you mean 'oauth2'?",
        ),
        (
            "schema: {file: demo/items.json}",
            "schema: {file: demo/items.json, inline: {}}",
            "taps/demo.yml:26:13 streams.0.schema:",
            "expected exactly one of `file`, `inline` or `openapi`",
        ),
        (
            "    kind: integer\n",
            "    kind: int\n",
            "taps/demo.yml:10:11 settings.1.kind:",
            "'int' is not one of string, integer,",
        ),
    ],
)
def test_schema_errors_point_at_the_mistake(tmp_path: Path, old: str, new: str, where: str, message: str) -> None:
    error = str(fail(tmp_path, mutate(old, new)))
    assert error.startswith(where), error
    assert message in error, error


def test_first_error_in_the_file_wins(tmp_path: Path) -> None:
    text = mutate("{type: page, has", "{type: pgae, has").replace("name: demo", "name: Demo")
    assert str(fail(tmp_path, text)).startswith("taps/demo.yml:3:7 name:")


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            "parent: items",
            "parent: itemz",
            "taps/demo.yml:32:13 streams.1.parent:",
            "no stream named 'itemz' (did you mean 'items'?)",
        ),
        (
            "parent: items",
            "parent: parts",
            "taps/demo.yml:32:13 streams.1.parent:",
            "a stream cannot be its own parent",
        ),
        (
            "  - name: parts",
            "  - name: items",
            "taps/demo.yml:31:11 streams.1.name:",
            "stream name 'items' is already used by the stream on line 23",
        ),
        (
            'token: "{{ config.token }}"',
            'token: "{{ config.tokn }}"',
            "taps/demo.yml:15:10 auth.token:",
            "{{ config.tokn }} names no declared setting (did you mean 'token'?); declared settings: token, window",
        ),
        (
            'token: "{{ config.token }}"',
            "token: s3cr3t",
            "taps/demo.yml:15:10 auth.token:",
            "a credential must not be written in the declaration",
        ),
        (
            "base_url: https://api.example.com/v1",
            "base_url: https://api.example.com/{{ parent.id }}",
            "taps/demo.yml:12:11 base_url:",
            "{{ parent.id }} only works in a child stream's path and params",
        ),
        (
            "    path: /items\n",
            "    path: /items/{{ parent.id }}\n",
            "taps/demo.yml:24:11 streams.0.path:",
            "needs a parent stream: add `parent: <stream name>`",
        ),
        (
            "record_selector: data",
            "record_selector: '{{ config.window }}'",
            "taps/demo.yml:21:20 defaults.record_selector:",
            "templates are not rendered in defaults.record_selector",
        ),
        (
            "schema: {file: demo/items.json}",
            "schema: {file: demo/missing.json}",
            "taps/demo.yml:26:20 streams.0.schema.file:",
            "does not exist (schema paths are relative to the folder of the YAML file)",
        ),
        (
            "primary_key: [id]",
            "primary_key: [ident]",
            "taps/demo.yml:25:19 streams.0.primary_key.0:",
            "primary key field 'ident' is not in the schema file demo/items.json; its fields: id, updated",
        ),
        (
            "cursor_field: updated",
            "cursor_field: updatedAt",
            "taps/demo.yml:29:21 streams.0.replication.cursor_field:",
            "cursor field 'updatedAt' is not in the schema file demo/items.json (did you mean 'updated'?)",
        ),
        (
            "{{ parent.id }}",
            "{{ parent.code }}",
            "taps/demo.yml:33:11 streams.1.path:",
            "parent field 'code' is not in the schema of parent stream 'items'",
        ),
        (
            "total_field: meta.total}",
            "total_field: meta.total, limit_param: since}",
            "taps/demo.yml:30:22 streams.0.replication.request_param:",
            "'since' is already sent by the paginator limit_param",
        ),
    ],
)
def test_semantic_errors_point_at_the_mistake(tmp_path: Path, old: str, new: str, where: str, message: str) -> None:
    error = str(fail(tmp_path, mutate(old, new)))
    assert error.startswith(where), error
    assert message in error, error


def test_parent_declared_after_child(tmp_path: Path) -> None:
    text = mutate(
        "  - name: items\n",
        "  - name: first\n    parent: parts\n    path: /x/{{ parent.id }}\n    primary_key: []\n    schema: {inline: {type: object, properties: {}}}\n  - name: items\n",
    )
    error = str(fail(tmp_path, text))
    assert "streams.0.parent: parent 'parts' is declared after this stream" in error, error


def test_unknown_time_zone_and_bad_setting_default(tmp_path: Path) -> None:
    error = str(fail(tmp_path, mutate("base_url:", "timezone: America/Sao_Paolo\nbase_url:")))
    assert "timezone: unknown time zone 'America/Sao_Paolo'" in error
    error = str(fail(tmp_path, mutate("default: 120", "default: lots")))
    assert "settings.1.default: default 'lots' is not an integer, as kind integer needs" in error


def test_openapi_definition_must_exist(tmp_path: Path) -> None:
    openapi = {"swagger": "2.0", "definitions": {"Item": {"type": "object", "properties": {"id": {"type": "integer"}}}}}
    path = write_tap(
        tmp_path, mutate("schema: {file: demo/items.json}", "schema: {openapi: demo/api.json, definition: Itme}")
    )
    (tmp_path / "taps" / "demo" / "api.json").write_text(json.dumps(openapi), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_tap_spec(path, display_name="taps/demo.yml")
    assert "streams.0.schema.definition: definition 'Itme' is not in api.json; it has: Item" in str(caught.value)


def test_find_declarations_and_unknown_kind(tmp_path: Path) -> None:
    path = write_tap(tmp_path)
    (tmp_path / "taps" / "notes.txt").write_text("not a declaration", encoding="utf-8")
    (tmp_path / "targets").mkdir()
    target = tmp_path / "targets" / "x.yml"
    target.write_text("a: 1\n", encoding="utf-8")
    (tmp_path / "targets" / "x").mkdir()  # a folder of payload schemas beside it is not a declaration
    assert find_declarations(tmp_path) == [("tap", path), ("target", target)]
    with pytest.raises(SpecError, match="no format named 'nope'"):
        load_declaration(path, "nope")


SIENGE = Path(__file__).resolve().parents[2] / "taps" / "sienge.yml"


def test_sienge_declaration_is_valid() -> None:
    assert SIENGE.is_file(), "taps/sienge.yml is missing from this checkout"
    from ponte.declaration.yaml_loader import load_yaml

    data = load_yaml(SIENGE).data
    files = [SIENGE.parent / s["schema"]["file"] for s in data["streams"] if "file" in s["schema"]]
    missing = [str(f.relative_to(SIENGE.parent)) for f in files if not f.is_file()]
    assert not missing, f"schema files named by taps/sienge.yml are missing: {', '.join(missing)}"
    declaration = load_tap_spec(SIENGE)
    assert declaration.data["name"] == "sienge"
    assert len(declaration.data["streams"]) >= 20


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  type: bearer\n",
            "  type: api_key\n  header: X-Key\n  query_param: key\n  value: '{{ config.token }}'\n",
            "taps/demo.yml:14:3 auth: expected either header or query_param, not both",
        ),
        (
            '  type: bearer\n  token: "{{ config.token }}"\n',
            "  type: oauth2\n  grant_type: password\n  token_url: https://id.example.com/token\n",
            "auth: missing required keys 'username', 'password' (the password grant sends",
        ),
        (
            "rate_limit:\n",
            "errors:\n  hints: {401: check the token, oops: no}\nrate_limit:\n",
            "taps/demo.yml:17:33 errors.hints.oops: key 'oops' is not an HTTP status code (100-599)",
        ),
        (
            "total_field: meta.total}",
            "inserts_at: head}",
            "defaults.paginator.inserts_at: inserts_at: head needs total_field",
        ),
        (
            "  record_selector: data\n",
            "  record_selector: data\n  params: {offset: 0}\n",
            "taps/demo.yml:22:12 defaults.params.offset: 'offset' is also sent by the paginator offset_param",
        ),
        (
            'token: "{{ config.token }}"',
            'token: "{{ config.token }"',
            "auth.token: unbalanced template braces in '{{ config.token }'",
        ),
        (
            'token: "{{ config.token }}"',
            'token: "{{ secrets.token }}"',
            "auth.token: {{ secrets.token }} is not a template the engine understands",
        ),
        (
            "    secret: true\n",
            "",
            "auth.token: setting 'token' holds a credential: mark it secret: true",
        ),
    ],
)
def test_more_mistakes_are_explained(tmp_path: Path, old: str, new: str, expected: str) -> None:
    error = str(fail(tmp_path, mutate(old, new)))
    assert expected in error, error


def test_malformed_openapi_file_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text('swagger: "2.0"\npaths:\n  /a: [unclosed\n', encoding="utf-8")
    declaration = tmp_path / "t.yml"
    declaration.write_text(
        "version: 1\nname: t\nbase_url: http://x\nstreams:\n  - name: a\n    path: /a\n    primary_key: []\n"
        "    schema: {openapi: api.yaml, definition: A}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        SpecError, match=r"t\.yml:8:\d+ streams\.0\.schema\.openapi: cannot read api\.yaml: invalid YAML"
    ):
        load_declaration(declaration, "tap")


WITH_FOR_EACH = ("  - name: window\n", "  - name: regions\n    kind: array\n  - name: window\n")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    path: /items\n",
            "    path: /regions/{{ each.region }}/items\n    for_each: {setting: regionz, field: region}\n",
            "streams.0.for_each.setting: no setting named 'regionz' (did you mean 'regions'?)",
        ),
        (
            "    path: /items\n",
            "    path: /regions/{{ each.region }}/items\n    for_each: {setting: window, field: region}\n",
            "streams.0.for_each.setting: setting 'window' is kind integer; for_each needs kind array",
        ),
        (
            "    path: /items\n",
            "    path: /items\n    for_each: {setting: regions, field: region}\n",
            "streams.0.for_each: this stream never uses its for_each value: put {{ each.region }} in its path",
        ),
        (
            "    path: /items\n",
            "    path: /regions/{{ each.region }}/items\n",
            "streams.0.path: {{ each.region }} only works in the path and params of a stream that declares for_each",
        ),
        (
            "    path: /items\n",
            "    path: /regions/{{ each.regio }}/items\n    for_each: {setting: regions, field: region}\n",
            "streams.0.path: {{ each.regio }} is not this stream's for_each field; write {{ each.region }}",
        ),
        (
            "    parent_keys: {itemId: id}\n",
            "    parent_keys: {itemId: id}\n    for_each: {setting: regions, field: region}\n",
            "streams.1.for_each: for_each only works on a root stream; a child stream reads the value from its "
            "parent's record as {{ parent.region }}",
        ),
    ],
)
def test_for_each_mistakes_are_explained(tmp_path: Path, old: str, new: str, expected: str) -> None:
    error = str(fail(tmp_path, mutate(old, new).replace(*WITH_FOR_EACH)))
    assert expected in error, error


def test_a_child_of_a_for_each_stream_reads_the_value_from_its_parent(tmp_path: Path) -> None:
    text = (
        mutate(
            "    path: /items\n",
            "    path: /regions/{{ each.region }}/items\n    for_each: {setting: regions, field: region}\n",
        )
        .replace("path: /items/{{ parent.id }}/parts", "path: /regions/{{ parent.region }}/items/{{ parent.id }}/parts")
        .replace(*WITH_FOR_EACH)
    )
    declaration = load_tap_spec(write_tap(tmp_path, text))
    assert declaration.data["streams"][0]["for_each"] == {"setting": "regions", "field": "region"}
