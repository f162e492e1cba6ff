"""`ponte validate` as users run it: the console script in a subprocess, messages on stderr, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from ponte.testing.cli import ponte_cli

TAP = textwrap.dedent(
    """\
    # taps/demo.yml: declares a demo tap for the CLI tests.
    version: 1
    name: demo
    base_url: https://api.example.com
    streams:
      - name: items
        path: /items
        primary_key: [id]
        schema: {file: demo/items.json}
      - name: tags
        path: /tags
        primary_key: [id]
        paginator: {type: none}
        schema: {inline: {type: object, properties: {id: {type: string}}}}
    """
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`ponte validate <args>` from `cwd` (in-process: the same main() as the console script)."""
    before = Path.cwd()
    os.chdir(cwd)
    try:
        return ponte_cli("validate", *args)
    finally:
        os.chdir(before)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "taps" / "demo").mkdir(parents=True)
    (tmp_path / "taps" / "demo" / "items.json").write_text(
        json.dumps({"type": "object", "properties": {"id": {"type": "integer"}}}), encoding="utf-8"
    )
    (tmp_path / "taps" / "demo.yml").write_text(TAP, encoding="utf-8")
    return tmp_path


def test_validates_every_declaration_of_the_repo(repo: Path) -> None:
    result = run(cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok  taps/demo.yml (2 streams)\n"


def test_root_option_and_explicit_paths(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = run("--root", str(repo), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "demo.yml (2 streams)" in result.stdout
    result = run("taps/demo.yml", cwd=repo)
    assert result.stdout == "ok  taps/demo.yml (2 streams)\n"


def test_first_error_exits_2_with_position_and_no_traceback(repo: Path) -> None:
    (repo / "taps" / "demo.yml").write_text(TAP.replace("{type: none}", "{type: nope}"), encoding="utf-8")
    result = run(cwd=repo)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "ponte: taps/demo.yml:13:23 streams.1.paginator.type: 'nope' is not one of offset, page, none"
        " — did you mean 'none'?"
    )
    assert "Traceback" not in result.stderr


def test_yaml_syntax_error_exits_2(repo: Path) -> None:
    (repo / "taps" / "demo.yml").write_text(TAP.replace("name: demo", "name: [demo"), encoding="utf-8")
    result = run(cwd=repo)
    assert result.returncode == 2
    assert result.stderr.startswith("ponte: taps/demo.yml:")
    assert "YAML syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_to_validate_is_an_error(tmp_path: Path) -> None:
    result = run(cwd=tmp_path)
    assert result.returncode == 2
    assert "no declarations found" in result.stderr


def test_explain_prints_the_reference(tmp_path: Path) -> None:
    result = run("--explain", "tap", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tap declaration (taps/<source>.yml)")
    assert "streams[].primary_key*" in result.stdout
