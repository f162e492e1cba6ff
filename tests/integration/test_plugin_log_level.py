"""`<PLUGIN>_LOGLEVEL`, the variable .env.example documents, sets every plugin's log level, whichever code path
runs (singer-sdk, target-postgres's plain load, the ingest-API targets). `<PLUGIN>_LOG_LEVEL`, which the file
once taught and nothing reads, gets a warning naming the right variable.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ponte.core.console_scripts import console_script
from ponte.testing import SandboxProcess

ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def run(command: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    quiet = {k: v for k, v in os.environ.items() if not k.endswith(("LOGLEVEL", "LOG_LEVEL"))}
    return subprocess.run(command, env={**quiet, **env}, input=stdin, capture_output=True, text=True, timeout=120)


def info_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "INFO" in line]


def test_target_postgres_plain_load_obeys_target_postgres_loglevel(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dsn": ADMIN_DSN}))
    command = [console_script("target-postgres"), "--config", str(config)]
    assert info_lines(run(command, {}).stderr)
    quiet = run(command, {"TARGET_POSTGRES_LOGLEVEL": "WARNING"})
    assert quiet.returncode == 0, quiet.stderr
    assert not info_lines(quiet.stderr)
    misnamed = run(command, {"TARGET_POSTGRES_LOG_LEVEL": "WARNING"})
    assert "TARGET_POSTGRES_LOG_LEVEL is not read; set TARGET_POSTGRES_LOGLEVEL=WARNING" in misnamed.stderr


def test_a_tap_obeys_tap_sienge_loglevel_and_names_the_misspelt_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"subdomain": "demo", "username": "u", "password": "p"}))
    command = [console_script("tap-sienge"), "--config", str(config), "--discover"]
    assert info_lines(run(command, {}).stderr)
    quiet = run(command, {"TAP_SIENGE_LOGLEVEL": "WARNING"})
    assert quiet.returncode == 0, quiet.stderr
    assert not info_lines(quiet.stderr)
    misnamed = run(command, {"TAP_SIENGE_LOG_LEVEL": "DEBUG"})
    assert "tap-sienge: TAP_SIENGE_LOG_LEVEL is not read; set TAP_SIENGE_LOGLEVEL=DEBUG" in misnamed.stderr


@pytest.mark.parametrize("level", ["", "WARNING"])
def test_an_api_target_obeys_its_loglevel(tmp_path: Path, level: str) -> None:
    with SandboxProcess.start("retailportal", "--set", "rate_limit=0") as sandbox:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"api_key": "rp_sandbox_key", "base_url": sandbox.base_url}))
        command = [console_script("target-retailportal"), "--config", str(config), "--test"]
        checked = run(command, {"TARGET_RETAILPORTAL_LOGLEVEL": level} if level else {})
    assert checked.returncode == 0, checked.stderr
    assert bool(info_lines(checked.stderr)) is not bool(level)
