"""plugins/*.yml, the definitions another Meltano project adds Ponte's plugins from, are complete and current.

They are written from meltano.yml (`make plugins`): a definition that lagged behind would install a plugin
whose settings Meltano silently drops. Meltano drops any key its PluginDefinition does not know, so each file
must parse without leftovers; and it must install the distribution, not this checkout (`-e .`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from meltano.core.plugin import PluginType
from meltano.core.plugin.base import PluginDefinition

from ponte.project.plugin_definitions import DOCS_PAGE, LABELS, definitions, render

ROOT = Path(__file__).parents[2]
DEFINITIONS = definitions(ROOT)
PACKAGE = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_every_ponte_plugin_has_a_current_definition_and_no_other_file_is_there() -> None:
    assert {d["name"] for d in DEFINITIONS.values()} == set(LABELS)
    for path, definition in DEFINITIONS.items():
        assert path.is_file(), f"{path.relative_to(ROOT)} is missing: run `make plugins`"
        assert path.read_text(encoding="utf-8") == render(definition), f"{path.relative_to(ROOT)} is stale: run `make plugins`"  # fmt: skip
    assert set((ROOT / "plugins").rglob("*.yml")) == set(DEFINITIONS)


@pytest.mark.parametrize("path", sorted(DEFINITIONS), ids=lambda p: p.stem)
def test_meltano_reads_the_definition_whole(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    parsed = PluginDefinition.parse({"plugin_type": PluginType(path.parent.name), **data})
    assert not parsed.extras, f"Meltano would drop {sorted(parsed.extras)}"
    assert data["pip_url"] == f"{PACKAGE['name']}=={PACKAGE['version']}"
    assert data["variant"] == "ponte" and data["label"] and data["description"] and data["capabilities"]
    assert all(s.get("kind") for s in data["settings"])


@pytest.mark.parametrize("path", sorted(DEFINITIONS), ids=lambda p: p.stem)
def test_the_docs_link_leads_to_a_section_about_the_plugin(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["docs"] == f"{PACKAGE['urls']['Repository']}/blob/main/{DOCS_PAGE}#{data['name']}"
    page = (ROOT / DOCS_PAGE).read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(data['name'])}$", page, re.MULTILINE), (
        f"{DOCS_PAGE} has no section {data['name']}"
    )
