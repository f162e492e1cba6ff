"""Which declaration a plugin reads: the user's folder, then the Meltano project's, then the checkout's
(then the copy inside the package, exercised from the wheel in test_plugins_in_another_project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ponte.declaration.declaration_paths import declaration_path
from ponte.mapper.plugin import mapping_path

ROOT = Path(__file__).parents[2]


def write(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("version: 1\n", encoding="utf-8")
    return folder / name


@pytest.mark.parametrize(("folder", "variable"), [("taps", "PONTE_TAPS_DIR"), ("targets", "PONTE_TARGETS_DIR")])
def test_the_users_folder_wins_over_the_project_which_wins_over_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, variable: str
) -> None:
    source = "sienge" if folder == "taps" else "proextend"
    monkeypatch.chdir(tmp_path)  # the Meltano project's root: Meltano runs plugins there
    monkeypatch.delenv(variable, raising=False)
    assert declaration_path(source, folder) == ROOT / folder / f"{source}.yml"
    own = write(tmp_path / folder, f"{source}.yml")
    assert declaration_path(source, folder) == own
    users = write(tmp_path / "mine", f"{source}.yml")
    monkeypatch.setenv(variable, str(users.parent))
    assert declaration_path(source, folder) == users


def test_a_missing_declaration_is_named_where_the_user_would_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PONTE_TAPS_DIR", str(tmp_path / "mine"))
    assert declaration_path("nowhere") == tmp_path / "mine" / "nowhere.yml"


def test_a_mapping_is_found_in_ponte_transforms_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MELTANO_PROJECT_ROOT", raising=False)
    mine = write(tmp_path / "mine", "erp-to-shop.yml")
    monkeypatch.setenv("PONTE_TRANSFORMS_DIR", str(mine.parent))
    assert mapping_path("transforms/erp-to-shop.yml") == mine
    assert mapping_path("erp-to-shop.yml") == mine


def test_a_mapping_ponte_ships_is_found_when_the_project_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MELTANO_PROJECT_ROOT", raising=False)
    monkeypatch.delenv("PONTE_TRANSFORMS_DIR", raising=False)
    assert mapping_path("transforms/bling-to-retailportal.yml") == ROOT / "transforms" / "bling-to-retailportal.yml"
