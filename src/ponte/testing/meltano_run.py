"""Run `meltano run ...` from tests, one run per plugin at a time.

Two `meltano run` of the same extractor at once share `.meltano/run/<extractor>` (catalog, state) and trip
over each other, and the test suite runs in parallel workers; each run here holds a file lock per extractor
it names (`tap-*`, in sorted order, so two runs never wait on each other crosswise). Loaders and mappers keep
nothing there between runs, so runs sharing only those still go in parallel.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

from ponte.testing.singer_process import console_script


def meltano_run(project: Path, blocks: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`meltano run <blocks...>` in `project` with `env`; output captured, exit code not checked."""
    folder = project / ".meltano"
    folder.mkdir(exist_ok=True)
    with ExitStack() as locks:
        for plugin in sorted({b for b in blocks if b.startswith("tap-")}):
            handle = locks.enter_context((folder / f"ponte-run-{plugin}.lock").open("w"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        command = [console_script("meltano"), "run", *blocks]
        return subprocess.run(command, cwd=project, env=dict(env), capture_output=True, text=True, check=False)
