"""What a PostgreSQL-dependent test does when no server answers: skip on a laptop, fail under CI.

A developer without PostgreSQL still gets the rest of the suite; CI (`CI=true`, set by `.ci/run`) must never
report green while a whole class of tests silently did not run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when `CI` says so (`true`, `1`, `yes`), as CI services and `.ci/run` set it."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, because PostgreSQL is not reachable (`reason` says where and why)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: PostgreSQL-dependent tests must run)", pytrace=False)
    pytest.skip(reason)
