"""The shipped pipelines (jobs in meltano/*.meltano.yml) read only what their mapping uses, and every TOTVS
flavour has its own plugin, schema and so state ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ponte.project.meltano_install import project_files

ROOT = Path(__file__).parents[2]


FILES = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in project_files(ROOT) if path.suffix == ".yml"]
EXTRACTORS = {p["name"]: p for f in FILES for p in (f.get("plugins") or {}).get("extractors") or []}
MAPPINGS = {
    m["name"]: m["config"]["mapping"]
    for f in FILES
    for mapper in (f.get("plugins") or {}).get("mappers") or []
    for m in mapper.get("mappings") or []
}
JOBS = {j["name"]: j["tasks"] for f in FILES for j in f.get("jobs") or []}


def extra(extractor: str, name: str) -> Any:
    """An extra of an extractor, inherited along `inherit_from` like Meltano does."""
    plugin = EXTRACTORS[extractor]
    if name in plugin:
        return plugin[name]
    return extra(plugin["inherit_from"], name) if plugin.get("inherit_from") else None


def config(extractor: str) -> dict[str, Any]:
    plugin = EXTRACTORS[extractor]
    inherited = config(plugin["inherit_from"]) if plugin.get("inherit_from") else {}
    return {**inherited, **(plugin.get("config") or {})}


MAPPED = [(job, *task.split()) for job, tasks in JOBS.items() for task in tasks if len(task.split()) == 3]


def test_there_are_shipped_mapping_pipelines() -> None:
    assert {mapping for *_, mapping, _ in MAPPED} == set(MAPPINGS)


@pytest.mark.parametrize(("job", "extractor", "mapping", "loader"), MAPPED)
def test_a_mapping_pipeline_selects_exactly_the_streams_its_mapping_reads(
    job: str, extractor: str, mapping: str, loader: str
) -> None:
    declared = yaml.safe_load((ROOT / MAPPINGS[mapping]).read_text(encoding="utf-8"))
    sources = {m["source"] for m in declared["mappings"]}
    assert sorted(extra(extractor, "select")) == sorted(f"{source}.*" for source in sources), job


def test_each_totvs_flavour_has_a_plugin_of_its_own_with_its_own_schema() -> None:
    flavours = {name: config(name).get("flavour") for name in EXTRACTORS if name.startswith("tap-totvs--")}
    plugins = {flavour: name for name, flavour in flavours.items() if name == f"tap-totvs--{flavour}"}
    assert set(plugins) == {"protheus", "plant", "rm"}
    assert {extra(name, "load_schema") for name in plugins.values()} == {"totvs_protheus", "totvs_plant", "totvs_rm"}
