"""Run `meltano run ...` (or `ponte run ...`, which runs it) from tests, one run per extractor at a time.

Two `meltano run` of the same extractor at once share `<sys dir>/run/<extractor>` (catalog, state) and trip
over each other, and the test suite runs in parallel workers. `ponte run` holds a lock per extractor itself
(ponte.runs.extractor_locks); a bare Meltano command here takes the very same locks (same files, sorted
order), so the two kinds of run wait for each other and cannot deadlock: the test process takes either the
extractors' locks (bare Meltano) or none (`ponte run`, whose child takes them). `meltano install` — even when
nothing needs installing — deletes every plugin's run files (its catalog among them), so a run also holds
the install lock shared: `install_when_needed` takes it exclusively, and waits for running runs, only when
there is something to install.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ponte.core.console_scripts import console_script
from ponte.core.meltano_project import MeltanoProject
from ponte.project.meltano_install import ensure_installed, is_installed
from ponte.runs.extractor_locks import Holder, extractor_locks, locks_folder

INSTALL_LOCK = "ponte-install.lock"


@contextmanager
def install_lock_shared(project: Path) -> Iterator[None]:
    """Hold the install lock shared: no `meltano install` of this project empties the run files meanwhile."""
    folder = project / ".meltano"
    folder.mkdir(exist_ok=True)
    with (folder / INSTALL_LOCK).open("a") as install:
        fcntl.flock(install, fcntl.LOCK_SH)
        yield


@contextmanager
def meltano_locks(project: Path, args: list[str], env: Mapping[str, str]) -> Iterator[None]:
    """Hold the install lock shared and `ponte run`'s lock of every extractor `args` name (jobs resolved), for
    one bare Meltano command."""
    names = [arg for arg in args if not arg.startswith("-")]
    extractors = MeltanoProject.load(project).extractors(names)
    me = Holder(os.getpid(), " ".join(["meltano", *args]), "test")
    with ExitStack() as locks:
        locks.enter_context(install_lock_shared(project))
        locks.enter_context(extractor_locks(locks_folder(project, env), extractors, me))
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
    with meltano_locks(project, args, env):
        command = [console_script("meltano"), *args]
        return subprocess.run(command, cwd=project, env=dict(env), capture_output=True, text=True, check=False)


def meltano_run(project: Path, blocks: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`meltano run <blocks...>` (see meltano_cli)."""
    return meltano_cli(project, ["run", *blocks], env)


def ponte_run(project: Path, args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`ponte run <args...>` (which runs `meltano run` and locks its extractors itself) under the install lock;
    output captured, exit code not checked."""
    with install_lock_shared(project):
        command = [console_script("ponte"), "run", *args]
        return subprocess.run(command, cwd=project, env=dict(env), capture_output=True, text=True, check=False)


def private_sys_dir(project: Path, folder: Path) -> Path:
    """A `.meltano` of its own for one test's runs (set MELTANO_SYS_DIR_ROOT to it): the project's installed
    plugins linked in, `run/` (catalogs, state files) private, so a service under test can run an extractor
    while another test runs the same one without waiting for it (the extractors' locks live there too)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("extractors", "loaders", "mappers", "utilities", "transformers", "orchestrators"):
        if (project / ".meltano" / kind).is_dir() and not (folder / kind).exists():
            (folder / kind).symlink_to(project / ".meltano" / kind)
    (folder / "run").mkdir(exist_ok=True)
    return folder
