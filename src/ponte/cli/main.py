"""The `ponte` command: runs of pipelines, sandboxes, validation of declarations, database helpers."""

from __future__ import annotations

import sys

import click

from ponte.cli.auth import auth
from ponte.cli.db import db
from ponte.cli.demo import demo
from ponte.cli.dlq import dlq
from ponte.cli.docs import docs
from ponte.cli.follow import follow
from ponte.cli.panel import panel
from ponte.cli.run import run
from ponte.cli.serve import serve
from ponte.cli.validate import validate
from ponte.cli.webhooks import webhooks
from ponte.core.errors import PonteError
from ponte.sandbox.cli import sandbox


@click.group()
@click.version_option(package_name="ponte-elt")
def cli() -> None:
    """Ponte: declarative ELT for Brazilian ERPs (Sienge, Bling, TOTVS)."""


cli.add_command(sandbox)
cli.add_command(validate)
cli.add_command(db)
cli.add_command(demo)
cli.add_command(auth)
cli.add_command(follow)
cli.add_command(dlq)
cli.add_command(run)
cli.add_command(docs)
cli.add_command(serve)
cli.add_command(panel)
cli.add_command(webhooks)


def main(args: list[str] | None = None) -> None:
    """Run the CLI (on `args`, else the command line), turning expected failures into one line and their exit code."""
    try:
        code = cli.main(args=args, standalone_mode=False)  # a `ctx.exit(n)` comes back as n
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PonteError as exc:
        click.echo(f"ponte: {exc}", err=True)
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
