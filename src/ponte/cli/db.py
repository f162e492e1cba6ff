"""`ponte db`: helpers for the PostgreSQL database the loader writes to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ponte.core.errors import ConfigError
from ponte.project.meltano_config import find_project, plugin_config, under_meltano
from ponte.targets.postgres import readonly_role
from ponte.targets.postgres.reconnect import connect_failure
from ponte.targets.postgres.settings import build_conninfo

# The loader's own settings, as Meltano exports them to the environment (.env) — so `ponte db` needs no
# extra configuration in a Ponte project.
_LOADER_ENV = ("host", "port", "user", "password", "database", "dsn", "ssl_mode")


def loader_config(environment: str | None = None) -> dict[str, Any]:
    """target-postgres's connection settings: TARGET_POSTGRES_* under Meltano (`meltano invoke`), Meltano's
    resolved config from a shell inside the project, else whatever TARGET_POSTGRES_* the shell exports."""

    project = None if under_meltano() else find_project(Path.cwd())
    if project is not None:
        config = plugin_config("target-postgres", project, environment, who="ponte db")
        return {name: config[name] for name in _LOADER_ENV if config.get(name) not in (None, "")}
    return {
        name: os.environ[f"TARGET_POSTGRES_{name.upper()}"]
        for name in _LOADER_ENV
        if os.environ.get(f"TARGET_POSTGRES_{name.upper()}")
    }


def _admin_conninfo(dsn: str | None) -> str:

    if dsn:
        return build_conninfo({"dsn": dsn}, application_name="ponte db")
    return build_conninfo(loader_config(), application_name="ponte db")


@click.group()
def db() -> None:
    """Manage the PostgreSQL database that target-postgres loads."""


@db.command("create")
@click.option(
    "--environment",
    "-e",
    help="Meltano environment of the loader's settings (default: MELTANO_ENVIRONMENT, then default_environment).",
)
def create_command(environment: str | None) -> None:
    """Create the database target-postgres loads into (its `database`, or the dsn's dbname), if it is missing.

    
    Example (once, before the first run):
      ponte db create                  # the dev environment's database, `ponte` unless TARGET_POSTGRES_DATABASE
      ponte db create -e prod

    Connects to the same server's `postgres` database with the loader's user, which needs CREATEDB.
    """

    conninfo = build_conninfo(loader_config(environment), application_name="ponte db")
    parts = conninfo_to_dict(conninfo)
    name = parts.get("dbname") or parts.get("user") or os.environ.get("PGDATABASE") or os.environ.get("USER")
    if not name:
        raise ConfigError("ponte db create: no database named; set TARGET_POSTGRES_DATABASE (or dsn)")
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or '5432'}"
    admin = make_conninfo(conninfo, dbname="postgres")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                click.echo(f"database '{name}' already exists on {where}")
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise ConfigError(connect_failure(exc, admin, "ponte db create")) from None
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc).strip()
        raise ConfigError(
            f"ponte db create: PostgreSQL refused to create database '{name}' on {where} ({reason}); ask an "
            f"administrator to create it, or give the loader's user CREATEDB"
        ) from None
    click.echo(f"database '{name}' created on {where}")


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
