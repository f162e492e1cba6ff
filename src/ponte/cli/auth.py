"""`ponte auth <source> --account NAME`: get a user's consent once and save the token pair in the token store.

The tap then refreshes from the store on its own. Settings come from `--config` (a JSON file, e.g.
`meltano invoke --dump=config tap-bling > cfg.json`) over the `TAP_<SOURCE>_<SETTING>` environment variables
(what `meltano invoke tap-bling:auth` provides); run from a shell inside a Meltano project, they are asked from
Meltano in the environment `meltano run` would use, so `ponte auth bling --account x` and `meltano invoke
tap-bling:auth --account x` authorize the same account. No token or secret is ever printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import re
import sys
import threading
import time
import webbrowser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ponte.auth.authorize import (
    CallbackListener,
    CannotListen,
    authorize_url,
    new_state,
    parse_pasted,
)
from ponte.auth.oauth2 import OAuth2Auth
from ponte.core.errors import AuthError, ConfigError, PonteError
from ponte.declaration import load_tap_spec
from ponte.declaration.declaration_paths import declaration_path
from ponte.http.redaction import Redactor
from ponte.project.meltano_config import find_project, plugin_config, under_meltano
from ponte.tap.account_auth import account_authenticator

REFRESH_TOKEN_DAYS = 30  # Bling's refresh-token lifetime, shown by --status


def env_config(spec: Mapping[str, Any], source: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Declared settings found as `TAP_<SOURCE>_<SETTING>` variables, parsed by their kind."""
    environ = os.environ if environ is None else environ
    prefix = "TAP_" + re.sub(r"[^A-Za-z0-9]", "_", source).upper() + "_"
    config: dict[str, Any] = {}
    for setting in spec.get("settings") or []:
        name = str(setting["name"])
        var = prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        raw = environ.get(var)
        if raw in (None, ""):
            continue
        kind = setting.get("kind", "string")
        try:
            if kind in ("array", "object"):
                config[name] = json.loads(raw)
            elif kind == "integer":
                config[name] = int(raw)
            elif kind == "number":
                config[name] = float(raw)
            elif kind == "boolean":
                config[name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                config[name] = raw
        except ValueError:
            raise ConfigError(f"environment variable {var} is not a valid {kind} (setting '{name}')") from None
    return config


def file_config(path: Path) -> dict[str, Any]:
    """The JSON object in a config file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except ValueError as exc:
        raise ConfigError(f"config file {path} is not valid JSON (line {getattr(exc, 'lineno', '?')})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of settings")
    return data


def local_time(epoch: float) -> str:
    """Epoch seconds as local wall-clock time with the zone name."""
    return dt.datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def source_config(source: str, config_file: Path | None, environment: str | None = None) -> dict[str, Any]:
    """The tap's settings: Meltano's (from a shell in a project) or the TAP_<SOURCE>_* variables, then the file."""

    project = None if under_meltano() else find_project(Path.cwd())
    if project is not None:
        config = plugin_config(f"tap-{source}", project, environment, who=f"ponte auth {source}")
    else:
        config = env_config(load_tap_spec(declaration_path(source)).data, source)
    if config_file is not None:
        config.update(file_config(config_file))
    return config


def build_account_auth(
    source: str, account_name: str | None, config_file: Path | None, environment: str | None = None
) -> tuple[OAuth2Auth, Redactor, str]:
    """The OAuth2Auth of one account, as the tap would build it; also a redactor of every known secret."""
    config = source_config(source, config_file, environment)
    return account_authenticator(source, config, account_name, label=f"ponte auth {source}")


def _stdin_reader(results: queue.Queue[tuple[str, str]]) -> None:
    """Feed pasted lines into the listener's queue (only started when stdin is a terminal)."""
    for line in sys.stdin:
        if line.strip():
            results.put(("paste", line))


def _wait_for_code(auth: OAuth2Auth, redirect_uri: str, state: str, timeout: float, open_browser: bool) -> str:
    url = authorize_url(str(auth.config.authorize_url), str(auth.config.client_id), state)
    interactive = sys.stdin is not None and sys.stdin.isatty()
    listener = CallbackListener(redirect_uri, state, notice=lambda m: click.echo(f"ponte auth: {m}", err=True))
    try:
        listener.start()
    except CannotListen as reason:
        click.echo(f"Open this URL, sign in and allow access for {auth.who}:\n\n  {url}\n")
        if not interactive:
            raise ConfigError(
                f"cannot listen on {redirect_uri} ({reason}); pass the code from the redirect with --code"
            ) from None
        click.echo(f"Cannot listen on {redirect_uri} ({reason}).")
        while True:
            pasted = click.prompt("Paste the code, or the whole URL the browser was sent to", hide_input=True)
            code = parse_pasted(pasted, state)
            if code:
                return code
            click.echo("That holds no code for this run (a different state?); try again.")
    try:
        click.echo(f"Open this URL, sign in and allow access for {auth.who}:\n\n  {url}\n")
        click.echo(f"Waiting up to {timeout:g} s for the browser to come back to {redirect_uri} ...")
        if interactive:
            click.echo("(or paste the code, or the whole URL the browser was sent to, and press Enter)")
            threading.Thread(target=_stdin_reader, args=(listener.results,), daemon=True).start()
        if open_browser:
            with contextlib.suppress(Exception):  # no browser here: the printed URL is enough
                webbrowser.open(url)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise queue.Empty
            kind, value = listener.wait(left)
            if kind == "error":
                raise AuthError(value)
            code = value if kind == "code" else parse_pasted(value, state)
            if code:
                return code
            click.echo("ponte auth: that paste holds no code for this run (a different state?)", err=True)
    except queue.Empty:
        raise AuthError(
            f"no authorization came back to {redirect_uri} within {timeout:g} s; run again, and check that the "
            "redirect URL registered in the app is exactly that one"
        ) from None
    finally:
        listener.close()


def _status(auth: OAuth2Auth) -> None:
    store = auth.token_store
    assert store is not None
    record = auth.stored_record()
    if record is None:
        raise AuthError(f"no tokens for {auth.who} yet in {store.describe()}: run `{auth.reauth_hint}`")
    now = time.time()
    click.echo(f"{auth.who}: tokens in {store.describe()} under key '{auth.store_key}'")
    if record.expires_at > now:
        click.echo(
            f"  access token valid until {local_time(record.expires_at)} ({_span(record.expires_at - now)} left)"
        )
    else:
        click.echo(
            f"  access token expired at {local_time(record.expires_at)} ({_span(now - record.expires_at)} ago); "
            "the next run renews it"
        )
    if record.updated_at:
        click.echo(
            f"  tokens last rotated {local_time(record.updated_at)} ({_span(now - record.updated_at)} ago); "
            f"an unused refresh token dies after {REFRESH_TOKEN_DAYS} days (Bling)"
        )
    if not record.refresh_token:
        click.echo(f"  no refresh token stored: run `{auth.reauth_hint}` before the access token expires")


@click.command("auth")
@click.argument("source")
@click.option(
    "--account", "account_name", metavar="NAME", help="Account to authorize (its `name` in the accounts setting)."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file of settings (e.g. `meltano invoke --dump=config tap-bling`), over TAP_<SOURCE>_* variables.",
)
@click.option(
    "--environment",
    "-e",
    help="Meltano environment whose settings to use from a shell (default: MELTANO_ENVIRONMENT, then "
    "meltano.yml's default_environment, as for `meltano run`).",
)
@click.option("--code", help="Authorization code copied from the redirect (skips the local listener).")
@click.option("--no-browser", is_flag=True, help="Only print the authorize URL; do not open a browser.")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait for the redirect.")
@click.option("--status", is_flag=True, help="Show whether tokens are stored and when they expire; change nothing.")
def auth(
    source: str,
    account_name: str | None,
    config_file: Path | None,
    environment: str | None,
    code: str | None,
    no_browser: bool,
    timeout: float,
    status: bool,
) -> None:
    """Authorize ACCOUNT of SOURCE (taps/<source>.yml) once, saving its OAuth2 tokens in the token store."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ponte auth: %(message)s"))
    auth_logger = logging.getLogger("ponte.auth")
    auth_logger.addHandler(handler)
    auth_logger.setLevel(logging.INFO)
    redactor = Redactor()
    try:
        oauth, redactor, redirect_uri = build_account_auth(source, account_name, config_file, environment)
        redactor.install(auth_logger)
        if status:
            _status(oauth)
            return
        if not oauth.config.authorize_url:
            raise ConfigError(f"{source}: auth has no authorize_url")
        state = new_state()
        if code:
            click.echo("Exchanging the given code ...")
        else:
            oauth.wait_for_token_budget()  # before consent: the code lives a minute, a budget wait up to one
            code = _wait_for_code(oauth, redirect_uri, state, timeout, open_browser=not no_browser)
        redactor.add(code)
        record = oauth.exchange_code(code.strip())
        store = oauth.token_store
        assert store is not None
        click.echo(
            f"{oauth.who} authorized; tokens saved in {store.describe()}; access token valid until "
            f"{local_time(record.expires_at)}"
        )
    except (AuthError, ConfigError) as exc:
        raise type(exc)(redactor.redact(str(exc))) from None
    except PonteError:
        raise
    finally:
        auth_logger.removeHandler(handler)
