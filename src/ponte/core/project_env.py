"""The settings a process sees: its environment over the project's `.env`, the way Meltano reads them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def project_env(project: Path, env: Mapping[str, str] | None = None, prefix: str = "") -> dict[str, str]:
    """`env` (default: the process environment) over the variables of `project/.env` that start with `prefix`.

    A variable set in the environment always wins, as in Meltano; an empty `prefix` takes the whole `.env`.
    """
    merged: dict[str, str] = {}
    dotenv = project / ".env"
    if dotenv.is_file():
        from dotenv import dotenv_values  # lazily: most commands never read a .env

        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None and k.startswith(prefix)})
    merged.update(os.environ if env is None else env)
    return merged
