"""Ponte commands typed in a shell inside the project read the plugins' settings from Meltano, in the environment
`meltano run` uses (MELTANO_ENVIRONMENT, else default_environment), as `meltano invoke` would hand them over."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ponte.project.meltano_config import active_environment
from ponte.testing import console_script

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]


def shell_env(**extra: str) -> dict[str, str]:
    """A user's shell: no Meltano process around, no TAP_BLING_* exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_BLING_"))}
    return {**env, **extra}


def test_ponte_auth_from_a_shell_finds_the_dev_environments_bling_account(tmp_path: Path) -> None:
    store = tmp_path / "tokens.json"
    done = subprocess.run(
        [console_script("ponte"), "auth", "bling", "--account", "loja-matriz", "--status"],
        cwd=PROJECT,
        env=shell_env(TAP_BLING_TOKEN_STORE_PATH=str(store)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # the account is known (dev declares it) and the user's own variable still wins: no tokens in that store yet
    assert done.returncode == 3, done.stderr
    assert f"no tokens for account 'loja-matriz' yet in file {store}" in done.stderr
    assert "lists no accounts" not in done.stderr


def test_the_environment_is_the_one_meltano_run_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "meltano.yml").write_text("default_environment: dev\n", encoding="utf-8")
    monkeypatch.delenv("MELTANO_ENVIRONMENT", raising=False)
    assert active_environment(tmp_path) == "dev"
    assert active_environment(tmp_path, "prod") == "prod"
    monkeypatch.setenv("MELTANO_ENVIRONMENT", "staging")
    assert active_environment(tmp_path) == "staging"
