"""`ponte sandbox <api>`: run a local sandbox of an ERP API for demos, tests and benchmarks.

The options come from `cli_options` (generated from each sandbox's switches); ProExtend, RetailPortal and the
KEYENCE gateway build their commands in their own packages.
"""

from __future__ import annotations

from typing import Any

import click

from ponte.sandbox.bling import switches as bling_switches
from ponte.sandbox.bling.app import BlingApp
from ponte.sandbox.bling.webhooks_cli import bling_webhooks
from ponte.sandbox.cli_options import collect_switches, serve_app, server_options, switch_options
from ponte.sandbox.keyence.cli import keyence
from ponte.sandbox.proextend.cli import command as _proextend
from ponte.sandbox.retailportal.cli import command as _retailportal
from ponte.sandbox.sienge.app import SIENGE_SWITCHES, SiengeApp
from ponte.sandbox.switches import COMMON_SWITCHES
from ponte.sandbox.totvs import switches as totvs_switches
from ponte.sandbox.totvs.app import TotvsApp


@click.group()
def sandbox() -> None:
    """Run local sandboxes of the ERP APIs (for demos, tests and benchmarks)."""


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
@switch_options(SIENGE_SWITCHES)
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

    switches = collect_switches(values, COMMON_SWITCHES + SIENGE_SWITCHES, settings)
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


@sandbox.command()
@server_options(default_port=8766, common=bling_switches.merged_common())
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
@switch_options(bling_switches.BLING_SWITCHES)
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

    common, own = bling_switches.merged_common(), bling_switches.BLING_SWITCHES
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
            f"admin={running.url}/_sandbox/ webhooks={app.switches['webhook_url'] or 'off'}"
        ),
    )


@sandbox.command()
@server_options(default_port=8767, common=totvs_switches.merged_common())
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
@switch_options(totvs_switches.TOTVS_SWITCHES)
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

    common, own = totvs_switches.merged_common(), totvs_switches.TOTVS_SWITCHES
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


sandbox.add_command(keyence)

sandbox.add_command(_retailportal())

sandbox.add_command(_proextend())

sandbox.add_command(bling_webhooks)
