"""`ponte panel`: the control panel's operator accounts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ponte.core.errors import ConfigError


@click.group()
def panel() -> None:
    """The control panel of `ponte serve` (its pages need PONTE_SECRET_KEY and an account made here)."""


@panel.command("add-user")
@click.argument("name")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd,
              help="The Meltano project whose .env names the database (default: the current folder).")  # fmt: skip
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin (scripts).")
def add_user(name: str, project: Path, password_stdin: bool) -> None:
    """Create the operator NAME, or set its password; the password is asked for (never an argument) and only
    its argon2 hash is stored, in <PONTE_DB_SCHEMA>.panel_users of the service's database."""
    from ponte.service.app import resolve_dsn  # lazily: the service's modules load only for this command
    from ponte.service.panel.users import add_user as store_user
    from ponte.service.settings import ServeSettings

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Senha", hide_input=True, confirmation_prompt="Repita a senha")
    if not password:
        raise ConfigError("no password given")
    settings = ServeSettings.read(project.resolve())
    created = store_user(resolve_dsn(settings), settings.schema, name, password)
    click.echo(f"{'created' if created else 'updated'} panel user {name!r} in schema {settings.schema}", err=True)
