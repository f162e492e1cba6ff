"""The `dev` and `demo` environments' sandbox defaults yield to the user's own variables in `run` and `invoke`.

An environment's `env:` block outranks the shell and .env in Meltano, so credentials pinned there used to beat
what the user exported while `meltano config` showed the user's value. The defaults now sit under `config:`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ponte.testing import SandboxProcess
from ponte.testing.meltano_run import meltano_cli

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("environment", "plugin", "variable", "value"),
    [
        ("dev", "tap-sienge", "TAP_SIENGE_PASSWORD", "users-own-password"),
        ("demo", "tap-sienge", "TAP_SIENGE_PASSWORD", "users-own-password"),
        ("dev", "tap-totvs", "TAP_TOTVS_PASSWORD", "users-own-password"),
        ("dev", "tap-bling", "TAP_BLING_CLIENT_SECRET", "users-own-secret"),
        ("dev", "tap-bling", "TAP_BLING_ACCOUNTS", '[{"name": "minha-loja"}]'),
        ("dev", "target-proextend", "TARGET_PROEXTEND_API_KEY", "pex_users_own_key"),
        ("dev", "target-retailportal", "TARGET_RETAILPORTAL_API_KEY", "rp_users_own_key"),
    ],
)
def test_the_users_variable_beats_the_environments_sandbox_default_in_invoke(
    meltano_installed: None, environment: str, plugin: str, variable: str, value: str
) -> None:
    env = {**os.environ, "MELTANO_ENVIRONMENT": environment, variable: value}
    dumped = meltano_cli(PROJECT, ["invoke", "--dump=config", plugin], env)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    setting = variable.removeprefix(plugin.upper().replace("-", "_") + "_").lower()
    expected = json.loads(value) if value.startswith("[") else value
    assert json.loads(dumped.stdout)[setting] == expected


def test_meltano_run_uses_the_exported_password_not_the_sandbox_one(meltano_installed: None, tmp_path: Path) -> None:
    with SandboxProcess.start("sienge", "--records", "5") as sandbox:
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "TAP_SIENGE_BASE_URL": sandbox.base_url,
            "TAP_SIENGE_PASSWORD": "not-the-sandbox-password",
            "TAP_SIENGE_STATE_DIR": str(tmp_path),
            "TAP_SIENGE__SELECT": '["indexers.*"]',
        }
        run = meltano_cli(PROJECT, ["invoke", "tap-sienge"], env)
        refused = [e for e in sandbox.request_log() if e["status"] == 401]
    assert run.returncode != 0
    assert "401" in run.stderr and "TAP_SIENGE_PASSWORD" in run.stderr
    assert refused, "the sandbox never saw the exported (wrong) password"
