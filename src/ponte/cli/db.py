"""`ponte db`: helpers for the PostgreSQL database the loader writes to."""

from __future__ import annotations

import os

import click
import psycopg

from ponte.errors import ConfigError

# The loader's own settings, as Meltano exports them to the environment (.env) — so `ponte db` needs no
# extra configuration in a Ponte project.
_LOADER_ENV = ("host", "port", "user", "password", "database", "dsn", "ssl_mode")


def _admin_conninfo(dsn: str | None) -> str:
    from ponte.targets.postgres.settings import build_conninfo

    if dsn:
        return build_conninfo({"dsn": dsn}, application_name="ponte db")
    config = {
        name: os.environ[f"TARGET_POSTGRES_{name.upper()}"]
        for name in _LOADER_ENV
        if os.environ.get(f"TARGET_POSTGRES_{name.upper()}")
    }
    return build_conninfo(config, application_name="ponte db")


@click.group()
def db() -> None:
    """Manage the PostgreSQL database that target-postgres loads."""


@db.command("grant-readonly")
@click.argument("role")
@click.option(
    "--schema", "schemas", multiple=True, help="Schema to expose (repeatable). Default: every schema in the run log."
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="Environment variable holding the role's password (kept out of shell history).",
)
@click.option("--generate-password", is_flag=True, help="Set a new random password and print it once.")
@click.option("--owner", help="Role that creates the tables (the loader's user); default: the connecting user.")
@click.option("--log-schema", default="ponte", show_default=True, help="Schema of the run log (sync_runs).")
@click.option(
    "--dsn",
    envvar="PONTE_DB_DSN",
    help="Admin connection string; default: the loader's TARGET_POSTGRES_* settings from the environment.",
)
def grant_readonly_command(
    role: str,
    schemas: tuple[str, ...],
    password_env: str | None,
    generate_password: bool,
    owner: str | None,
    log_schema: str,
    dsn: str | None,
) -> None:
    """Create or update ROLE as a read-only login for BI tools and print its connection string.

    \b
    Example:
      BI_PASSWORD=s3cret ponte db grant-readonly bi_reader --schema sienge --password-env BI_PASSWORD

    The role may SELECT from every table of the schemas (also tables created later) and nothing else;
    its sessions start read-only. Run again after adding a source to expose its schema too.
    """
    from ponte.targets.postgres import readonly_role

    if password_env and generate_password:
        raise click.UsageError("use either --password-env or --generate-password")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigError(f"ponte db grant-readonly: environment variable {password_env} is empty or not set")
    elif generate_password:
        password = readonly_role.generate_password()
    try:
        with psycopg.connect(_admin_conninfo(dsn), autocommit=True) as conn:
            chosen = list(schemas) or readonly_role.loaded_schemas(conn, log_schema)
            grant = readonly_role.grant_readonly(
                conn, role, chosen, password=password, owner=owner, show_password=generate_password
            )
    except psycopg.OperationalError as exc:
        raise ConfigError(
            f"ponte db grant-readonly: cannot connect to PostgreSQL ({str(exc).strip().splitlines()[0]}); "
            "set --dsn / PONTE_DB_DSN or the TARGET_POSTGRES_* variables"
        ) from exc
    except psycopg.Error as exc:
        raise ConfigError(f"ponte db grant-readonly: PostgreSQL refused: {exc.diag.message_primary or exc}") from exc
    action = "created" if grant.created else "updated"
    click.echo(
        f"Role {grant.role} {action}: SELECT on every table of {', '.join(grant.schemas)}; sessions are read-only."
    )
    if generate_password:
        click.echo("A new random password was set; it appears once, in the connection string below.")
    elif password is None:
        state = "No password set" if grant.created else "Password unchanged"
        click.echo(f"{state} (pass --password-env VAR or --generate-password to set one).")
    click.echo("Connection string for BI tools:")
    click.echo(f"  {grant.connection_string}")
