"""`ponte docs`: rewrite the generated tables of the plugin guides (docs/plugins/*.md) from the definitions."""

from __future__ import annotations

from pathlib import Path

import click

from ponte.project.plugin_docs import GUIDES, stale_guides


@click.command("docs")
@click.pass_context
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming the guides whose tables are out of date.")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd,
    help="The Ponte checkout (default: the current folder).",
)
def docs(ctx: click.Context, check: bool, project: Path) -> None:
    """Regenerate the settings, stream, entity and mapping tables of docs/plugins/*.md.

    \b
    Run it after changing meltano.yml's settings or a declaration; `ponte docs --check` (run by the tests)
    fails while a table disagrees with what it describes.
    """

    stale = stale_guides(project, write=not check)
    names = ", ".join(str(path.relative_to(project)) for path in stale)
    if check and stale:
        click.echo(f"ponte docs: out of date: {names}; run `ponte docs` and commit the result", err=True)
        ctx.exit(1)
    click.echo(f"ponte docs: rewrote {names}" if stale else f"ponte docs: every guide in {GUIDES}/ is current")
