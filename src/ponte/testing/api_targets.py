"""Run an ingest-API target (target-proextend, target-retailportal) the way a user does, and read what it wrote.

Shared by the target tests: a config whose dead letters and job log land in a test folder, the console script
run on an input file, and the JSON Lines files read back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ponte.core.console_scripts import console_script


def write_config(folder: Path, **values: Any) -> Path:
    """`folder/config.json`: fast retries, no client-side rate budget, dead letters and job log in `folder`."""
    config = {
        "rate_limit_requests": 0,
        "backoff_base_seconds": 0.05,
        "dead_letter_path": str(folder / "dl.jsonl"),
        "job_log_path": str(folder / "jobs.jsonl"),
        **values,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def write_messages(path: Path, messages: list[dict[str, Any]]) -> Path:
    """Singer messages as a JSON Lines input file."""
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def run_api_target(plugin: str, config: Path, source: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`<plugin> --config … --input …`, output captured, exit code not checked."""
    command = [console_script(plugin), "--config", str(config), "--input", str(source)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def run_api_target_in_process(plugin: str, config: Path, source: Path) -> subprocess.CompletedProcess[str]:
    """`run_api_target` with the console script's entry point called in this process (fast behaviour tests)."""
    from ponte.testing.in_process import run_console_script

    return run_console_script(plugin, ["--config", str(config), "--input", str(source)])


def run_without_input(plugin: str, config: Path, folder: Path, timeout: float = 30) -> tuple[int, str]:
    """`<plugin> --config …` with a stdin that stays open and empty: (exit code, stderr).

    A target that fails before reading its input ends on its own; one that waits for input is killed and
    reported as an AssertionError, so a test can prove a check runs before the tap's first line is read.
    """
    stderr_path = folder / f"{plugin}.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen([console_script(plugin), "--config", str(config)], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{plugin} was still waiting for input after {timeout:g} s") from None
        finally:
            assert process.stdin is not None
            process.stdin.close()
    return code, stderr_path.read_text()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of `path` (dead letters, job log); none when it does not exist."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
