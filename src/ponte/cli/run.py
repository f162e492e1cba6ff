"""`ponte run`: the way to start a pipeline — `meltano run` plus a record of what really happened."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ponte.runs.console import FORMATS
from ponte.runs.launcher import RunRequest, launch
from ponte.runs.outcome import TRIGGERS


@click.command(
    context_settings={"ignore_unknown_options": True},
    short_help="Run a pipeline through meltano run and record its outcome.",
)
@click.option("--trigger", type=click.Choice(TRIGGERS), default="manual", show_default=True,
              help="What started the run (kept in the record): schedule for cron/timers.")  # fmt: skip
@click.option("--environment", "-e", help="Meltano environment (default: MELTANO_ENVIRONMENT, then meltano.yml's).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Meltano's log level.")
@click.option("--log-format", type=click.Choice(FORMATS), default="human", show_default=True,
              help="human (stream start/end, progress, warnings, a final table), console (every line of every "
                   "plugin) or json (Meltano's JSON lines, METRIC lines included, for log shippers).")  # fmt: skip
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd,
              help="The Meltano project (default: the current folder).")  # fmt: skip
@click.option(
    "--sku",
    "skus",
    multiple=True,
    help="Limit the run to these product SKUs (repeatable; sets PONTE_SKUS, e.g. tap-bling's codigos).",
)
@click.option("--dry-run", is_flag=True,
              help="Run the pipeline but let the targets send nothing: they show what they would send (PONTE_DRY_RUN); "
                   "Meltano's own --dry-run is `meltano run --dry-run`.")  # fmt: skip
@click.option("--direct", is_flag=True,
              help="Run the blocks as one pipe of the plugins' executables without starting Meltano (settings "
                   "resolved through Meltano once and cached; no Meltano state): seconds sooner, for webhook runs.")  # fmt: skip
@click.argument("meltano_args", nargs=-1, type=click.UNPROCESSED, metavar="JOB | PLUGINS... [MELTANO RUN OPTIONS]")
def run(
    trigger: str, environment: str | None, log_level: str | None, log_format: str, project: Path,
    skus: tuple[str, ...], dry_run: bool, direct: bool, meltano_args: tuple[str, ...],
) -> None:  # fmt: skip
    """Run a job or plugins exactly as `meltano run` would, then record the run and tell how it ended.

    \b
      ponte run sienge-to-postgres                       # a job from meltano/*.meltano.yml
      ponte run tap-sienge target-postgres --full-refresh
      ponte run --trigger schedule -e prod sienge-to-postgres   # from cron / a systemd timer
      ponte run bling-stock-sync --sku CAM-001 --dry-run        # one SKU, nothing posted

    One run id (also Meltano's --run-id) reaches every plugin as PONTE_RUN_ID, so the targets' sync_runs,
    sync_jobs and dead_letters rows carry it. The record (status succeeded, failed, partial or stopped-quota,
    each plugin's exit code, the failing plugin's first error line, rows per stream) goes to
    <PONTE_DB_SCHEMA>.pipeline_runs in PONTE_DB_DSN, else to .ponte/pipeline_runs.jsonl. A failed run prints
    that error as an ERROR line, sends the PONTE_ALERT_* alerts and exits non-zero.
    """
    plugin_env = {"PONTE_SKUS": json.dumps(list(skus))} if skus else {}
    if dry_run:
        plugin_env["PONTE_DRY_RUN"] = "true"
    request = RunRequest(list(meltano_args), project.resolve(), trigger, environment, log_level, log_format,
                         plugin_env, direct)  # fmt: skip
    sys.exit(launch(request))
