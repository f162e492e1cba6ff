"""`ensure_installed` skips `meltano install` only when nothing it depends on changed."""

from __future__ import annotations

from pathlib import Path

from ponte.project.meltano_install import fingerprint, missing_venvs

MELTANO_YML = """\
include_paths: ["./meltano/*.meltano.yml"]
plugins:
  extractors:
    - {name: tap-x, pip_url: -e .}
  loaders:
    - {name: target-y, inherit_from: target-z}
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "meltano").mkdir()
    (tmp_path / "meltano.yml").write_text(MELTANO_YML)
    (tmp_path / "meltano" / "jobs.meltano.yml").write_text("jobs: []\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return tmp_path


def test_the_fingerprint_changes_with_meltano_yml_its_includes_and_pyproject(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = fingerprint(root)
    assert fingerprint(root) == before
    for name in ("meltano.yml", "meltano/jobs.meltano.yml", "pyproject.toml"):
        path = root / name
        original = path.read_text()
        path.write_text(original + "\n# changed\n")
        assert fingerprint(root) != before, name
        path.write_text(original)
    assert fingerprint(root) == before


def test_a_plugin_whose_venv_is_missing_needs_an_install(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert missing_venvs(root) == ["tap-x"]  # target-y has no pip_url of its own
    (root / ".meltano" / "extractors" / "tap-x" / "venv").mkdir(parents=True)
    assert missing_venvs(root) == []
