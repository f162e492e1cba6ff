"""`ponte serve`: the always-on service (scheduler, manual runs, run history, webhook intake) on one port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ponte.project.meltano_install import ensure_installed
from ponte.sandbox.process import SandboxProcess


def _say(text: str) -> None:
    click.echo(click.style("ponte serve: ", fg="cyan") + text, err=True)


@click.command(short_help="Run the service: schedules, a JSON API of runs, webhooks.")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd,
              help="The Meltano project (default: the current folder).")  # fmt: skip
@click.option("--bind", help="host:port to listen on (default PONTE_SERVE_BIND, else 127.0.0.1:8780; port 0: any).")
@click.option("--demo", is_flag=True,
              help="Start the Sienge sandbox too and point the demo environment's runs at it (make serve).")  # fmt: skip
@click.option("--port-file", type=click.Path(dir_okay=False, path_type=Path), hidden=True,
              help="Write the port listened on to this file (tests, scripts).")  # fmt: skip
def serve(project: Path, bind: str | None, demo: bool, port_file: Path | None) -> None:
    """Run Ponte as a service until SIGTERM (or Ctrl-C): it fires meltano.yml's schedules through `ponte run`,
    starts runs on request and keeps their history and logs.

    \b
      GET  /healthz                         scheduler and database state
      POST /api/runs {"job": "sienge-to-postgres"}   → 202 {"run_id": ...}
      GET  /api/runs?pipeline=&status=&trigger=&since=   GET /api/runs/<id>   GET /api/runs/<id>/log (SSE)
      GET  /api/schedules   POST /api/schedules/<name>/pause|resume

    Settings come from the environment and the project's .env (PONTE_SERVE_*, PONTE_DB_DSN, PONTE_SECRET_KEY;
    see .env.example). A stop signal stops new work, lets running pipelines finish (PONTE_SERVE_DRAIN_SECONDS)
    and exits 0.
    """
    # Lazily: Starlette, uvicorn and APScheduler load only for `ponte serve`, not for every `ponte` command.
    from ponte.service.server import serve as run_server
    from ponte.service.settings import ServeSettings

    project = project.resolve()
    if bind:
        os.environ["PONTE_SERVE_BIND"] = bind
    settings = ServeSettings.read(project)
    sandbox = None
    if demo:
        sandbox = _start_demo(project, settings)
        settings = ServeSettings.read(project)  # again: the runs inherit the demo's environment

    def announce(url: str) -> None:
        _say(f"listening on {url} — try: curl {url}/healthz ; curl {url}/api/schedules")
        if demo:
            _say(f'start the demo pipeline: curl -X POST -d \'{{"job": "sienge-to-postgres"}}\' {url}/api/runs')

    try:
        code = run_server(settings, port_file=port_file, announce=announce)
    finally:
        if sandbox is not None:
            sandbox.stop()
    sys.exit(code)


def _start_demo(project: Path, settings: object) -> object:
    """The Sienge sandbox on a free port, the demo database, the demo environment for every run; Meltano plugins
    installed when needed (as `make demo` does)."""
    from ponte.service.app import resolve_dsn  # lazily, as above

    dsn = resolve_dsn(settings)  # type: ignore[arg-type]
    settings.dsn = dsn  # type: ignore[attr-defined]
    state = project / ".ponte"
    state.mkdir(exist_ok=True)
    sandbox = SandboxProcess.start("sienge", log_file=state / "sandbox-sienge.log")
    _say(f"Sienge sandbox on {sandbox.url}; runs use the demo environment and load into the demo database")
    if not (os.environ.get("PONTE_SECRET_KEY") or "").strip():  # the panel needs one; a demo's dies with it
        import secrets

        os.environ["PONTE_SECRET_KEY"] = secrets.token_urlsafe(32)
        _say("PONTE_SECRET_KEY is not set: the panel signs this demo's sessions with a random key")
    os.environ.update({"MELTANO_ENVIRONMENT": "demo", "TAP_SIENGE_BASE_URL": sandbox.base_url,
                       "TARGET_POSTGRES_DSN": dsn, "PONTE_DB_DSN": dsn})  # fmt: skip
    if ensure_installed(project, dict(os.environ)):
        _say("installed the Meltano plugins")
    return sandbox
