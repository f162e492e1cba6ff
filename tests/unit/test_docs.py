"""The docs a reader is sent to exist, and the plugin guides' tables say what the definitions say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ponte.testing.cli import ponte_cli

ROOT = Path(__file__).parents[2]
# Where code, declarations and guides name a doc: comments, docstrings, messages, YAML headers, the README.
SEARCHED = ["src", "taps", "targets", "transforms", "meltano", "tests", "bench", "docs"]
SEARCHED_FILES = ["README.md", "meltano.yml", "Makefile", "pyproject.toml", ".env.example"]
DOC_PATH = re.compile(r"(?<![\w/.:-])docs/[^\s`'\")\],;]*?\.md")


def mentions() -> list[tuple[str, str]]:
    found = []
    files = [ROOT / name for name in SEARCHED_FILES if (ROOT / name).is_file()]
    for folder in SEARCHED:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in (".py", ".yml", ".yaml", ".md")]
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        named = (match.group(0) for match in DOC_PATH.finditer(text))
        found += [(str(path.relative_to(ROOT)), doc) for doc in named if "*" not in doc]  # a glob names no one file
    return found


def test_docs_are_named_at_all() -> None:
    assert {"docs/token-store.md", "docs/api-facts-sienge.md", "docs/api-facts-bling-totvs.md"} <= {
        doc for _, doc in mentions()
    }


@pytest.mark.parametrize(("where", "doc"), sorted(set(mentions())))
def test_every_doc_named_in_the_code_exists(where: str, doc: str) -> None:
    assert (ROOT / doc).is_file(), f"{where} names {doc}, which does not exist"


def test_the_plugin_guides_tables_are_current() -> None:
    done = ponte_cli("docs", "--check", "--project", str(ROOT))
    assert done.returncode == 0, done.stderr


def test_every_plugin_has_a_guide() -> None:
    import yaml

    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    plugins = {p["name"] for kind in project["plugins"].values() for p in kind if p.get("pip_url") == "-e ."}
    assert plugins <= {p.stem for p in (ROOT / "docs" / "plugins").glob("*.md")}
