"""Placeholder for `ponte validate` (being written)."""

from __future__ import annotations

import click


@click.group()
def validate() -> None:
    """Not implemented yet."""
