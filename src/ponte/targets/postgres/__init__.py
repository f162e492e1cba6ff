"""target-postgres: a Singer loader that COPYs records into typed, commented PostgreSQL tables.

`loader.Loader` does the work (no singer-sdk import on the load path); `singer_target.TargetPostgres` is its
singer-sdk face (`--about`, stream maps, the SDK's standard tests); `target.main` is the console script.
"""

from __future__ import annotations

__all__ = ["TargetPostgres"]


def __getattr__(name: str) -> object:
    """Import the SDK class lazily so `ponte db` and the load path do not pay for singer-sdk's import."""
    if name == "TargetPostgres":
        from ponte.targets.postgres.singer_target import TargetPostgres

        return TargetPostgres
    raise AttributeError(name)
