"""Run `meltano run ...` (or `ponte run ...`, which runs it) from tests, one run per plugin at a time.

Two `meltano run` of the same extractor at once share `.meltano/run/<extractor>` (catalog, state) and trip
over each other, and the test suite runs in parallel workers; each run here holds a file lock per extractor
it names (`tap-*`, in sorted order, so two runs never wait on each other crosswise). Loaders and mappers keep
nothing there between runs, so runs sharing only those still go in parallel. `meltano install` — even when
nothing needs installing — deletes every plugin's run files (its catalog among them), so a run also holds
the install lock shared: `install_when_needed` takes it exclusively, and waits for running runs, only when
there is something to install.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ponte.core.console_scripts import console_script
from ponte.project.meltano_install import ensure_installed, is_installed

INSTALL_LOCK = "ponte-install.lock"


@contextmanager
def meltano_locks(project: Path, args: list[str]) -> Iterator[None]:
    """Hold the install lock shared and the lock of every extractor `args` name, for one Meltano command."""
    folder = project / ".meltano"
    folder.mkdir(exist_ok=True)
    extractors = {arg.split(":")[0] for arg in args if arg.startswith("tap-")}
    with ExitStack() as locks:
        install = locks.enter_context((folder / INSTALL_LOCK).open("a"))
        fcntl.flock(install, fcntl.LOCK_SH)
        for plugin in sorted(extractors):
            handle = locks.enter_context((folder / f"ponte-run-{plugin}.lock").open("w"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def install_when_needed(project: Path) -> None:
    """`meltano install` in `project` if needed, for test workers running side by side: checked under the install
    lock held shared (other workers' runs go on), installed under it held exclusively (after their runs)."""
    folder = project / ".meltano"
    folder.mkdir(exist_ok=True)
    with (folder / INSTALL_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        if is_installed(project):
            return
        fcntl.flock(lock, fcntl.LOCK_EX)  # not atomic: another worker may install first, ensure_installed re-checks
        ensure_installed(project)


def meltano_cli(project: Path, args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`meltano <args...>` in `project` with `env`, under the locks above; output captured, exit code not checked."""
    with meltano_locks(project, args):
        command = [console_script("meltano"), *args]
        return subprocess.run(command, cwd=project, env=dict(env), capture_output=True, text=True, check=False)


def meltano_run(project: Path, blocks: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`meltano run <blocks...>` (see meltano_cli)."""
    return meltano_cli(project, ["run", *blocks], env)


def ponte_run(project: Path, args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`ponte run <args...>` (which runs `meltano run`) under the same locks; output captured, exit code not checked."""
    with meltano_locks(project, args):
        command = [console_script("ponte"), "run", *args]
        return subprocess.run(command, cwd=project, env=dict(env), capture_output=True, text=True, check=False)


def private_sys_dir(project: Path, folder: Path) -> Path:
    """A `.meltano` of its own for one test's runs (set MELTANO_SYS_DIR_ROOT to it): the project's installed
    plugins linked in, `run/` (catalogs, state files) private, so a service under test can run an extractor
    while another test runs the same one, without the file locks above."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("extractors", "loaders", "mappers", "utilities", "transformers", "orchestrators"):
        if (project / ".meltano" / kind).is_dir() and not (folder / kind).exists():
            (folder / kind).symlink_to(project / ".meltano" / kind)
    (folder / "run").mkdir(exist_ok=True)
    return folder
