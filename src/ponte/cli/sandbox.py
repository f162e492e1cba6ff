"""Placeholder for `ponte sandbox` (being written)."""

from __future__ import annotations

import click


@click.group()
def sandbox() -> None:
    """Not implemented yet."""
