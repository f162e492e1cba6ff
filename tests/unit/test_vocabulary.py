"""One vocabulary: old spellings still load (with a positioned deprecation), shipped files use only new keys."""

from __future__ import annotations

import json
import logging
import re
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from ponte.auth.registry import build_authenticator
from ponte.cli.validate import validate
from ponte.core.errors import SpecError
from ponte.declaration import find_declarations, load_declaration
from ponte.declaration.explain import _resolve, explain
from ponte.declaration.validation import load_schema
from ponte.http.client_factory import build_client
from ponte.http.redaction import Redactor

REPO = Path(__file__).resolve().parents[2]

NEW = textwrap.dedent(
    """\
    version: 1
    name: demo
    settings:
      - {name: token, kind: string, required: true, secret: true}
    base_url: https://api.example.com/v1
    auth:
      type: bearer
      token: "{{ config.token }}"
    rate_limit:
      requests: 3
      per_seconds: 1.05
    errors:
      daily_quota_when: {field: error.period, equals: day}
    defaults:
      paginator: {type: offset, page_size: 100, total_field: meta.total}
      record_selector: data
    streams:
      - name: items
        path: /items
        primary_key: [id]
        paginator: {type: page, has_next_field: hasNext}
        schema: {inline: {type: object, properties: {id: {type: integer}}}}
        record_selector: $
    """
)
OLD = (
    NEW.replace("per_seconds: 1.05", "window_seconds: 1.05")
    .replace("{field: error.period", "{path: error.period")
    .replace("total_field:", "total_path:")
    .replace("has_next_field:", "has_next_path:")
)


def write(tmp_path: Path, text: str, name: str = "demo.yml", folder: str = "taps") -> Path:
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_old_spellings_load_as_the_new_ones_and_warn_at_their_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    new = load_declaration(write(tmp_path, NEW, "new.yml"), "tap", display_name="taps/new.yml")
    with caplog.at_level(logging.WARNING, logger="ponte.deprecation"):
        old = load_declaration(write(tmp_path, OLD, "old.yml"), "tap", display_name="taps/old.yml")

    assert old.data == new.data and new.deprecations == ()
    warned = caplog.text
    assert "taps/old.yml:11:3 rate_limit.window_seconds: deprecated spelling, write `rate_limit.per_seconds`" in warned
    assert "taps/old.yml:13:22 errors.daily_quota_when.path:" in warned and "`errors.daily_quota_when.field`" in warned
    assert "taps/old.yml:15:45 defaults.paginator.total_path:" in warned and "defaults.paginator.total_field" in warned
    assert "taps/old.yml:21:29 streams.0.paginator.has_next_path:" in warned
    assert len(old.deprecations) == 4


def test_an_old_rate_spelling_gives_the_same_rate_budget(tmp_path: Path) -> None:
    def limiter(text: str, name: str) -> tuple[int, float]:
        spec = load_declaration(write(tmp_path, text, name), "tap").data
        scope = {"config": {"token": "t", "state_dir": str(tmp_path)}}
        client = build_client(
            spec,
            scope,
            Redactor(),
            ZoneInfo("UTC"),
            logging.getLogger("test"),
            "tap-demo",
            plugin="tap-demo",
            build_auth=build_authenticator,
        )
        return client.limiter.requests, client.limiter.window

    assert limiter(OLD, "old.yml") == limiter(NEW, "new.yml") == (3, 1.05)


def test_old_token_rate_and_target_spellings_are_rewritten(tmp_path: Path) -> None:
    bling = (REPO / "taps" / "bling.yml").read_text(encoding="utf-8")
    old_bling = bling.replace("  rate_limit: {requests: 5, per_seconds: 60}\n", "  max_token_requests_per_minute: 5\n")
    assert old_bling != bling
    (tmp_path / "taps").mkdir()
    (tmp_path / "taps" / "bling").symlink_to(REPO / "taps" / "bling")
    loaded = load_declaration(write(tmp_path, old_bling, "bling.yml"), "tap", display_name="taps/bling.yml").data
    assert loaded["auth"]["rate_limit"] == {"requests": 5, "per_seconds": 60}

    target = (REPO / "targets" / "retailportal.yml").read_text(encoding="utf-8")
    old_target = (
        target.replace("primary_key: [erpId]", "key: erpId")
        .replace("primary_key_type:", "key_type:")
        .replace('status_path: "/jobs/{{ job.id }}"', "status_path: /jobs/{job_id}")
        .replace("id_field: jobId", "id_path: jobId")
        .replace("state_field: state", "state_path: state")
    )
    folder = tmp_path / "targets"
    (folder / "retailportal").mkdir(parents=True)
    for schema in (REPO / "targets" / "retailportal").iterdir():
        (folder / "retailportal" / schema.name).write_text(schema.read_text(encoding="utf-8"), encoding="utf-8")
    old = load_declaration(write(tmp_path, old_target, "retailportal.yml", "targets"), "target")
    shipped = load_declaration(REPO / "targets" / "retailportal.yml", "target")
    assert old.data == shipped.data
    assert {d.new_key_path for d in old.deprecations} >= {"entities.0.primary_key", "entities.0.job.status_path"}
    status = next(d for d in old.deprecations if d.key_path.endswith("status_path"))
    assert "write `entities.0.job.status_path: /jobs/{{ job.id }}`" in str(status)


def test_a_mistake_under_an_old_key_names_the_key_as_written(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_declaration(write(tmp_path, OLD.replace("window_seconds: 1.05", "window_seconds: soon")), "tap")
    assert re.search(r"demo\.yml:11:19 rate_limit\.window_seconds: expected a number > 0", str(caught.value))


def test_validate_warns_and_strict_fails_on_old_spellings(tmp_path: Path) -> None:
    write(tmp_path, OLD)
    relaxed = CliRunner().invoke(validate, ["--root", str(tmp_path)])
    assert relaxed.exit_code == 0, relaxed.output
    assert "warning: " in relaxed.output and "rate_limit.window_seconds: deprecated spelling" in relaxed.output
    strict = CliRunner().invoke(validate, ["--root", str(tmp_path), "--strict"])
    assert strict.exit_code != 0 and "4 deprecated spelling(s)" in str(strict.exception)


def test_shipped_declarations_use_only_the_new_vocabulary() -> None:
    found = find_declarations(REPO)
    assert len(found) >= 10
    for kind, path in found:
        declaration = load_declaration(path, kind, log_deprecations=False)
        assert declaration.deprecations == (), [str(d) for d in declaration.deprecations]


@pytest.mark.parametrize("kind", ["tap", "target", "mapping", "line_files"])
def test_explain_shows_a_valid_example_per_block_and_the_deprecated_spellings(kind: str) -> None:
    schema = load_schema(kind)
    text = explain(kind)
    blocks = [key for key, node in schema["properties"].items() if _is_block(_resolve(node, schema), schema)]
    assert blocks
    for key in blocks:
        node = schema["properties"][key]
        assert node.get("examples"), f"{kind}: block {key} has no example"
        Draft202012Validator({"$defs": schema["$defs"], **node}).validate(node["examples"][0])
        assert re.search(rf"^{key}\*?  \(.*?(\n {{4,}}.*)*\n  example:\n    {key}:", text, re.M), key
    if kind != "line_files":
        assert "Deprecated spellings" in text and "  →  " in text
    assert "rate_limit: {requests: N, per_seconds: S, per_day: D}" in text


def _is_block(node: dict, root: dict) -> bool:
    """A mapping, or a list of mappings: what a declaration calls a block."""
    if node.get("type") == "array":
        return _is_block(_resolve(node.get("items") or {}, root), root)
    return node.get("type") == "object" or bool(node.get("properties"))


def test_examples_use_no_deprecated_key() -> None:
    old_keys = ("window_seconds", "total_path", "has_next_path", "id_path", "state_path", "errors_path", "key_type")
    for kind in ("tap", "target", "mapping", "line_files"):
        examples = json.dumps([n.get("examples") for n in load_schema(kind)["properties"].values()])
        assert not [k for k in old_keys if f'"{k}"' in examples], kind
