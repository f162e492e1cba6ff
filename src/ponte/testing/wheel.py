"""Build the ponte-elt distribution the way a release would, once per test session.

`uv build` makes the sdist, then the wheel from the unpacked sdist: what a user installs with
`pip_url: ponte-elt==…` (or `git+…`), so a file the sdist or the wheel forgets is missing in the tests too.
Parallel test workers share one build: the first takes the lock and builds, the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

from ponte.core.console_scripts import console_script

REPOSITORY = Path(__file__).resolve().parents[3]


def built_wheel(out_dir: Path, source: Path = REPOSITORY) -> Path:
    """The wheel built from `source` into `out_dir`, building it unless a wheel is already there."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheels = sorted(out_dir.glob("ponte_elt-*.whl"))
        if not wheels:
            build = subprocess.run(
                [console_script("uv"), "build", "--quiet", "--out-dir", str(out_dir), str(source)],
                capture_output=True,
                text=True,
                check=False,
            )
            if build.returncode != 0:
                raise RuntimeError(f"uv build failed:\n{build.stderr[-3000:]}")
            wheels = sorted(out_dir.glob("ponte_elt-*.whl"))
    return wheels[-1]
