"""Build hook: ship the declarations (taps/, targets/, transforms/, webhooks/) inside the package, as `ponte/bundled/`.

The repository's top-level folders stay the source of truth; a wheel built from it carries a copy, so the
plugins work when installed into another Meltano project (`pip_url: ponte-elt==…` or `git+…`). Editable
installs read the checkout's folders directly (see `ponte.declaration.declaration_paths`). Everything else about
the build is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DECLARATION_FOLDERS = ("taps", "targets", "transforms", "webhooks")


class BuildWithDeclarations(build_py):
    """`build_py` that also copies the declaration folders next to the modules."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for folder in DECLARATION_FOLDERS:
            source = ROOT / folder
            if not source.is_dir():
                raise SystemExit(f"cannot build ponte-elt: {source} is missing (build from a checkout or an sdist)")
            shutil.copytree(
                source,
                Path(self.build_lib) / "ponte" / "bundled" / folder,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
            )


setup(cmdclass={"build_py": BuildWithDeclarations})
