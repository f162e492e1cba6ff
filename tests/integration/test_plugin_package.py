"""The distribution carries what the plugins read at run time, so they work outside this repository.

Installed into another Meltano project (`pip_url: ponte-elt==…`), tap-sienge once failed with
`…/taps/sienge.yml file not found`: the declarations were not in the wheel. (The plugins running from the
wheel in a separate Meltano project: test_plugins_in_another_project.py.)
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def tracked(*folders: str) -> list[str]:
    listing = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True, check=True)
    return listing.stdout.split()


def test_the_wheel_ships_every_declaration_with_its_schemas_and_openapi_files(ponte_wheel: Path) -> None:
    files = tracked("taps", "targets", "transforms", "webhooks")
    assert any(f.endswith(".json") for f in files) and any("openapi" in f for f in files)
    with zipfile.ZipFile(ponte_wheel) as wheel:
        shipped = set(wheel.namelist())
        missing = [f for f in files if f"ponte/bundled/{f}" not in shipped]
        assert not missing, f"not in the wheel: {missing}"
        for name in files:
            assert wheel.read(f"ponte/bundled/{name}") == (ROOT / name).read_bytes(), name


def test_the_wheel_carries_the_license(ponte_wheel: Path) -> None:
    with zipfile.ZipFile(ponte_wheel) as wheel:
        licenses = [n for n in wheel.namelist() if n.endswith("LICENSE") and ".dist-info/" in n]
        assert licenses
        assert wheel.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        assert "License-Expression: Apache-2.0" in wheel.read(metadata).decode()
