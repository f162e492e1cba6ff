"""The engine's layer contracts (pyproject.toml `[tool.importlinter]`) hold, checked by plain `pytest` too.

`make test` runs `lint-imports`; this runs the same contracts in-process so an upward import fails the suite
even when pytest is run alone.
"""

from __future__ import annotations

from pathlib import Path

from importlinter.application.use_cases import lint_imports
from importlinter.configuration import configure

ROOT = Path(__file__).resolve().parents[2]


def test_every_layer_contract_is_kept() -> None:
    # The use case, not `importlinter.cli`: the CLI reconfigures logging, which would silence other tests' loggers.
    configure()
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None)
