"""The options every `ponte sandbox <api>` command shares, generated from the sandboxes' switches.

Options are generated from the sandboxes' switch declarations (`ponte.sandbox.switches`), so the CLI, the
`/_sandbox/config` endpoint and `RunningSandbox.configure` accept the same settings, and every option that
models a behaviour the facts file marks GUESS ends its help with "(guess)". `server_options` holds what every
sandbox shares (address, port file, seed, faults, rate limits); a new sandbox adds its own switches with
`switch_options(ITS_SWITCHES)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from ponte.sandbox.http_layer import serve_until_signal
from ponte.sandbox.switches import COMMON_SWITCHES, Switch, SwitchError

F = TypeVar("F", bound=Callable[..., Any])

FLAG_NAMES = {"rate_window_seconds": "rate-window", "retry_after_header": "retry-after"}
HIDDEN_SWITCHES = {"log_max"}


def _flag(switch: Switch) -> str:
    return FLAG_NAMES.get(switch.name, switch.name.replace("_", "-"))


def _help(switch: Switch) -> str:
    default = switch.default
    shown = json.dumps(default) if isinstance(default, list | dict) else default
    text = f"{switch.help} [default: {shown}]"
    return f"{text} (guess)" if switch.guess else text


def switch_options(switches: Sequence[Switch]) -> Callable[[F], F]:
    """One option per switch (dict-valued ones only through --set); unset options keep the app default."""

    def decorate(func: F) -> F:
        for switch in reversed(switches):
            if switch.name in HIDDEN_SWITCHES or isinstance(switch.default, dict) or switch.default is None:
                continue
            flag = _flag(switch)
            kwargs: dict[str, Any] = {"default": None, "help": _help(switch)}
            if isinstance(switch.default, bool):
                decls = [f"--{flag}/--no-{flag}"]
            elif isinstance(switch.default, list):
                decls, kwargs["multiple"], kwargs["default"] = [f"--{flag}"], True, ()
            else:
                decls = [f"--{flag}"]
                kwargs["type"] = click.Choice(switch.choices) if switch.choices else type(switch.default)
            func = click.option(*decls, switch.name, **kwargs)(func)
        return func

    return decorate


def server_options(default_port: int, common: Sequence[Switch] = COMMON_SWITCHES) -> Callable[[F], F]:
    """Address, port file, seed, `--set`, and the shared fault and rate-limit switches (`common`: with the
    sandbox's own defaults, e.g. Bling's 3 requests per second)."""

    def decorate(func: F) -> F:
        func = switch_options(common)(func)
        options = [
            click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on."),
            click.option(
                "--port", default=default_port, show_default=True, type=int, help="Port (0 picks a free one)."
            ),
            click.option(
                "--port-file", type=click.Path(dir_okay=False), help="Write the bound port here once listening."
            ),
            click.option(
                "--seed", default=42, show_default=True, type=int, help="Seed of generated data and random faults."
            ),
            click.option(
                "--set",
                "settings",
                multiple=True,
                metavar="SWITCH=JSON",
                help='Any runtime switch as JSON, e.g. --set insert_customers_after_requests=\'{"after":3,"count":5}\'.',
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def collect_switches(values: Mapping[str, Any], switches: Sequence[Switch], settings: Sequence[str]) -> dict[str, Any]:
    """The switches given on the command line: option values that were set, then `--set` pairs."""
    chosen: dict[str, Any] = {}
    for switch in switches:
        value = values.get(switch.name)
        if value is None or (isinstance(switch.default, list) and not value):
            continue
        chosen[switch.name] = list(value) if isinstance(switch.default, list) else value
    for pair in settings:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"'{pair}' is not SWITCH=JSON", param_hint="--set")
        try:
            chosen[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            chosen[name.strip()] = raw
    return chosen


def serve_app(
    build: Callable[[], Any], host: str, port: int, port_file: str | None, describe: Callable[[Any, Any], str]
) -> None:
    """Build a sandbox app (a bad switch is a usage error), serve it until a signal, print `describe(app, running)`."""
    try:
        app = build()
    except SwitchError as exc:
        raise click.UsageError(str(exc)) from None
    _server()(app, host, port, port_file, lambda running: click.echo(describe(app, running)))


def _server() -> Callable[..., Any]:
    """How to serve: until a signal, or with the callable a caller passed as click's `obj` (tests use a thread)."""
    ctx = click.get_current_context(silent=True)
    serve = ctx.find_root().obj if ctx is not None else None
    return serve if callable(serve) else serve_until_signal
