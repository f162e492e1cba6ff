"""Run the `ponte` command in this process, as the console script would, for fast CLI tests.

Starting `ponte` as a process costs a second or more of imports each time; a test that runs a dozen commands
spends most of its time there. This runs the same `main()` with its exit-code mapping, capturing what it
writes to stdout and stderr.
"""

from __future__ import annotations

import logging
import subprocess

from click.testing import CliRunner

from ponte.cli.main import main


def ponte_cli(*args: str, input: bytes | str | None = None) -> subprocess.CompletedProcess[str]:
    """`ponte <args...>` in-process: the exit code, stdout and stderr, like `subprocess.run(..., text=True)`."""
    runner = CliRunner()
    handlers = list(logging.getLogger().handlers)
    with runner.isolation(input=input) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            logging.getLogger().handlers[:] = handlers  # a command's logging set-up must not outlive it
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode(errors="replace")
    return subprocess.CompletedProcess(["ponte", *args], code, stdout, stderr)
