"""`python -m ponte.sandbox <api> ...`: the same command as `ponte sandbox <api>`, without the ponte CLI."""

from __future__ import annotations

from ponte.sandbox.cli import sandbox

if __name__ == "__main__":
    sandbox(prog_name="python -m ponte.sandbox")
