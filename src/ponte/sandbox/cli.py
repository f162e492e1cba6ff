"""`ponte sandbox <api>`: run a local sandbox of an ERP API for demos, tests and benchmarks.

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
    from ponte.sandbox.http_layer import serve_until_signal

    try:
        app = build()
    except SwitchError as exc:
        raise click.UsageError(str(exc)) from None
    serve_until_signal(app, host, port, port_file, lambda running: click.echo(describe(app, running)))


@click.group()
def sandbox() -> None:
    """Run local sandboxes of the ERP APIs (for demos, tests and benchmarks)."""


def _sienge_switches() -> tuple[Switch, ...]:
    from ponte.sandbox.sienge.app import SIENGE_SWITCHES

    return SIENGE_SWITCHES


@sandbox.command()
@server_options(default_port=8765)
@click.option(
    "--records",
    default=500,
    type=click.IntRange(0, 10_000_000),
    help="Number of customers, generated lazily (sales contracts: records/5). [default: 500]",
)
@click.option(
    "--subdomain",
    default="demo",
    help="Tenant in the base path /<subdomain>/public/api/v1 [default: demo]; other subdomains get an HTML 404 (guess)",
)
@click.option(
    "--username",
    default="demo-api",
    help='API user for HTTP Basic auth [default: demo-api]; others get 401 {"message":"Unauthorized"} (guess)',
)
@click.option(
    "--password",
    default="demo-secret",
    help="Password of the API user [default: demo-secret]; a wrong one gets the same 401 (guess)",
)
@switch_options(_sienge_switches())
def sienge(
    host: str,
    port: int,
    port_file: str | None,
    seed: int,
    settings: tuple[str, ...],
    records: int,
    subdomain: str,
    username: str,
    password: str,
    **values: Any,
) -> None:
    """Sienge Plataforma REST API v1 (customers, companies, creditors, ...)."""
    from ponte.sandbox.sienge.app import SiengeApp

    switches = collect_switches(values, COMMON_SWITCHES + _sienge_switches(), settings)
    serve_app(
        lambda: SiengeApp(
            records=records, seed=seed, subdomain=subdomain, username=username, password=password, switches=switches
        ),
        host,
        port,
        port_file,
        lambda app, running: (
            f"Sienge sandbox: base_url={running.base_url} username={username} password={password} "
            f"records={records} admin={running.url}/_sandbox/"
        ),
    )


def _bling_switches() -> tuple[tuple[Switch, ...], tuple[Switch, ...]]:
    from ponte.sandbox.bling.switches import BLING_SWITCHES, merged_common

    return merged_common(), BLING_SWITCHES


@sandbox.command()
@server_options(default_port=8766, common=_bling_switches()[0])
@click.option(
    "--companies",
    default=2,
    type=click.IntRange(1, 64),
    help="Bling accounts (companies): loja-matriz, loja-filial, loja-3, ... [default: 2]",
)
@click.option(
    "--products",
    default=120,
    type=click.IntRange(1, 90_000),
    help="Products per company, variations and kits included. [default: 120]",
)
@click.option("--contacts", default=80, type=click.IntRange(10, 200_000), help="Contacts per company. [default: 80]")
@click.option("--orders", default=150, type=click.IntRange(0, 500_000), help="Sales orders per company. [default: 150]")
@click.option(
    "--client-id", default="sandbox-client-id", help="client_id of the one registered app. [default: sandbox-client-id]"
)
@click.option(
    "--client-secret",
    default="sandbox-client-secret",
    help="client_secret of that app (Basic auth on /oauth/token). [default: sandbox-client-secret]",
)
@switch_options(_bling_switches()[1])
def bling(
    host: str,
    port: int,
    port_file: str | None,
    seed: int,
    settings: tuple[str, ...],
    companies: int,
    products: int,
    contacts: int,
    orders: int,
    client_id: str,
    client_secret: str,
    **values: Any,
) -> None:
    """Bling ERP API v3 (OAuth 2.0, several accounts: produtos, depósitos, estoques, pedidos, contatos, ...)."""
    from ponte.sandbox.bling.app import BlingApp

    common, own = _bling_switches()
    switches = collect_switches(values, common + own, settings)
    serve_app(
        lambda: BlingApp(
            companies=companies,
            products=products,
            contacts=contacts,
            orders=orders,
            seed=seed,
            client_id=client_id,
            client_secret=client_secret,
            switches=switches,
        ),
        host,
        port,
        port_file,
        lambda app, running: (
            f"Bling sandbox: base_url={running.base_url} authorize={running.base_url}/oauth/authorize "
            f"token={running.base_url}/oauth/token client_id={client_id} client_secret={client_secret} "
            f"redirect_uri={app.switches['redirect_uri']} companies={','.join(app.accounts)} "
            f"admin={running.url}/_sandbox/"
        ),
    )


def _totvs_switches() -> tuple[tuple[Switch, ...], tuple[Switch, ...]]:
    from ponte.sandbox.totvs.switches import TOTVS_SWITCHES, merged_common

    return merged_common(), TOTVS_SWITCHES


@sandbox.command()
@server_options(default_port=8767, common=_totvs_switches()[0])
@click.option(
    "--orders",
    default=120,
    type=click.IntRange(0, 5000),
    help="Production orders (SC2) of branch 01,01; branch 01,02 gets half. [default: 120]",
)
@click.option(
    "--students", default=600, type=click.IntRange(0, 100_000), help="RM Educacional students. [default: 600]"
)
@click.option(
    "--protheus-user", default="admin", help="Protheus user (Basic auth and password grant). [default: admin]"
)
@click.option(
    "--protheus-password", default="totvs-sandbox", help="Password of the Protheus user. [default: totvs-sandbox]"
)
@click.option("--plant-client-id", default="plant-client", help="client_id of the plant API. [default: plant-client]")
@click.option(
    "--plant-client-secret", default="plant-secret", help="client_secret of the plant API. [default: plant-secret]"
)
@click.option("--rm-user", default="mestre", help="RM user (connect/token and Basic auth). [default: mestre]")
@click.option("--rm-password", default="totvs", help="Password of the RM user. [default: totvs]")
@switch_options(_totvs_switches()[1])
def totvs(
    host: str,
    port: int,
    port_file: str | None,
    seed: int,
    settings: tuple[str, ...],
    orders: int,
    students: int,
    protheus_user: str,
    protheus_password: str,
    plant_client_id: str,
    plant_client_secret: str,
    rm_user: str,
    rm_password: str,
    **values: Any,
) -> None:
    """TOTVS: Protheus REST (/rest), the plant's own API (/plant/api) and RM Educacional (/api) on one server."""
    from ponte.sandbox.totvs.app import TotvsApp

    common, own = _totvs_switches()
    switches = collect_switches(values, common + own, settings)
    serve_app(
        lambda: TotvsApp(
            orders=orders,
            students=students,
            seed=seed,
            protheus_user=protheus_user,
            protheus_password=protheus_password,
            plant_client_id=plant_client_id,
            plant_client_secret=plant_client_secret,
            rm_user=rm_user,
            rm_password=rm_password,
            switches=switches,
        ),
        host,
        port,
        port_file,
        lambda app, running: (
            f"TOTVS sandbox: url={running.url} protheus={running.url}/rest (TenantId 01,01|01,02, "
            f"user {protheus_user}) plant={running.url}/plant/api (client {plant_client_id}) "
            f"rm={running.url}/api (user {rm_user}) admin={running.url}/_sandbox/"
        ),
    )


def _keyence_command() -> click.Command:
    from ponte.sandbox.keyence.cli import keyence

    return keyence


sandbox.add_command(_keyence_command())
from ponte.sandbox.retailportal.cli import command as _retailportal  # noqa: E402 (built with server_options above)

sandbox.add_command(_retailportal())
from ponte.sandbox.proextend.cli import command as _proextend  # noqa: E402 (built with server_options above)

sandbox.add_command(_proextend())
