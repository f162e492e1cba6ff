"""`ponte sandbox retailportal`: the command of the RetailPortal sandbox (`ponte.sandbox.retailportal.app`).

`command()` builds it with the shared options of `ponte.sandbox.cli_options`; `ponte.sandbox.cli` registers it.
"""

from __future__ import annotations

from typing import Any

import click

from ponte.sandbox.cli_options import collect_switches, serve_app, server_options, switch_options
from ponte.sandbox.retailportal.app import DEFAULT_API_KEY, RetailPortalApp
from ponte.sandbox.retailportal.switches import RETAILPORTAL_SWITCHES, merged_common


def command() -> click.Command:
    """The `retailportal` click command."""

    @click.command()
    @server_options(default_port=8769, common=merged_common())
    @click.option(
        "--api-key",
        "api_keys",
        multiple=True,
        help="Valid X-API-Key value (repeat for several keys, each with its own rate limit). [default: rp_sandbox_key]",
    )
    @switch_options(RETAILPORTAL_SWITCHES)
    def retailportal(
        host: str,
        port: int,
        port_file: str | None,
        seed: int,
        settings: tuple[str, ...],
        api_keys: tuple[str, ...],
        **values: Any,
    ) -> None:
        """RetailPortal ERP ingest API (/erp-data: product batches as async jobs, upsert by erpId, history)."""

        switches = collect_switches(values, merged_common() + RETAILPORTAL_SWITCHES, settings)
        keys = api_keys or (DEFAULT_API_KEY,)
        serve_app(
            lambda: RetailPortalApp(api_keys=keys, seed=seed, switches=switches),
            host,
            port,
            port_file,
            lambda app, running: (
                f"RetailPortal sandbox: base_url={running.base_url} X-API-Key={','.join(keys)} "
                f"batch={running.base_url}/product/batch admin={running.url}/_sandbox/retailportal/info"
            ),
        )

    return retailportal
