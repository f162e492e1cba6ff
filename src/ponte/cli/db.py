"""Placeholder for `ponte db` (being written)."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Not implemented yet."""
