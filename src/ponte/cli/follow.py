"""`ponte follow keyence-to-postgres`: load the KEYENCE gateway's lines into PostgreSQL as they are written.

The work is done by `ponte.linefiles.follow` (a long-running tap-keyence piped into target-postgres, state
saved in PostgreSQL after each commit) and `ponte.linefiles.views` (tables and the per-order views).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import psycopg

from ponte.core.console_scripts import console_script
from ponte.core.errors import ConfigError
from ponte.linefiles.declaration import find_declaration, load_line_format
from ponte.linefiles.follow import FIRST_RESTART_DELAY, FollowPipeline, FollowSettings, check_folder
from ponte.linefiles.views import ensure
from ponte.project.meltano_config import extractor_extra, plugin_config
from ponte.targets.postgres.reconnect import connect_failure

LOG_FORMAT = "%(asctime)s | %(levelname)-8s | %(name)-30s | %(message)s"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"ponte follow: cannot read the {what} config {path}: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"ponte follow: the {what} config {path} must be a JSON object")
    return value


@click.command()
@click.argument("pipeline", default="keyence-to-postgres", metavar="[SOURCE|SOURCE-to-postgres]")
@click.option(
    "--tap-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="tap-<source> config JSON (folder, file_glob, …). Default: asked from Meltano (meltano config print).",
)
@click.option(
    "--target-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="target-postgres config JSON (dsn or host/user/…, default_target_schema). Default: asked from Meltano.",
)
@click.option(
    "--environment",
    "-e",
    help="Meltano environment of the configs (default: MELTANO_ENVIRONMENT, then meltano.yml's default_environment, "
    "dev — the same one `meltano run` and `ponte run` use).",
)
@click.option(
    "--project-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The Meltano project (meltano.yml); the tap runs from here, so relative folders are relative to it.",
)
@click.option(
    "--flush-seconds",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="The target commits (and the state is saved) at most this often while lines arrive.",
)
@click.option("--poll-seconds", type=click.FloatRange(min=0.05), help="Override the tap's poll_interval_seconds.")
@click.option(
    "--heartbeat-seconds",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Log one line this often, even while no line arrives (lines committed, last state saved, restarts).",
)
@click.option(
    "--restart-seconds",
    type=click.FloatRange(min=0.1),
    default=FIRST_RESTART_DELAY,
    show_default=True,
    help="Wait this long before restarting a tap or target that died (doubling after each failure, up to a minute).",
)
@click.option("--setup-only", is_flag=True, help="Create the tables, the views and the state table, then exit.")
def follow(
    pipeline: str,
    tap_config: Path | None,
    target_config: Path | None,
    environment: str | None,
    project_root: Path,
    flush_seconds: float,
    poll_seconds: float | None,
    heartbeat_seconds: float,
    restart_seconds: float,
    setup_only: bool,
) -> None:
    """Keep loading a line-files source (KEYENCE) into PostgreSQL, seconds behind its files, until stopped.

    \b
    Runs tap-keyence in follow mode piped into target-postgres, saves each committed STATE in
    <log_schema>.follow_state and resumes from it, restarts the pair if one of them dies, and creates
    keyence.producao_por_ordem / keyence.producao_ordens_ativas. Stop with Ctrl-C or SIGTERM: the lines
    read so far are committed and the state saved before it exits (0).

    \b
    Examples:
      ponte follow keyence-to-postgres                              # configs from Meltano's dev environment
      ponte follow keyence-to-postgres --environment prod          # configs from Meltano (.env included)
      ponte follow keyence --tap-config tap.json --target-config target.json
      ponte follow keyence-to-postgres --setup-only                # only the tables and views
    """

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    source = pipeline.removesuffix("-to-postgres")
    fmt = load_line_format(find_declaration(source))
    project = project_root.resolve()
    tap = (
        _read_json(tap_config, "tap")
        if tap_config
        else (None if setup_only else plugin_config(f"tap-{source}", project, environment, who="ponte follow"))
    )
    target = (
        _read_json(target_config, "target")
        if target_config
        else plugin_config("target-postgres", project, environment, who="ponte follow")
    )
    if not target.get("default_target_schema") or str(target["default_target_schema"]).startswith("$"):
        target["default_target_schema"] = str(extractor_extra(project, f"tap-{source}", "load_schema") or fmt.name)
    settings = FollowSettings(
        pipeline=f"{source}-to-postgres",
        tap_config=tap or {},
        target_config=target,
        tap_executable=console_script(f"tap-{source}"),
        target_executable=console_script("target-postgres"),
        flush_seconds=flush_seconds,
        poll_seconds=poll_seconds,
        cwd=project,
        heartbeat_seconds=heartbeat_seconds,
        restart_seconds=restart_seconds,
    )
    pipeline_runner = FollowPipeline(settings, fmt)
    try:
        created = ensure(settings.loader, fmt)
        pipeline_runner.store.ensure()
    except psycopg.OperationalError as exc:
        raise ConfigError(connect_failure(exc, settings.loader.conninfo, "ponte follow")) from None
    finally:
        pipeline_runner.store.close()
    click.echo(
        f"ponte follow: tables {', '.join(created.tables.values())}; views {', '.join(created.views) or 'none'}; "
        f"state in {settings.loader.log_schema}.follow_state",
        err=True,
    )
    if setup_only:
        return
    check_folder(settings.tap_config, project)
    pipeline_runner.install_signal_handlers()
    sys.exit(pipeline_runner.run())
