"""`ponte sandbox proextend`: the command of the ProExtend sandbox (`ponte.sandbox.proextend.app`).

`command()` builds it with the shared options of `ponte.sandbox.cli_options`; `ponte.sandbox.cli` registers it.
"""

from __future__ import annotations

from typing import Any

import click

from ponte.sandbox.cli_options import collect_switches, serve_app, server_options, switch_options
from ponte.sandbox.proextend.app import DEFAULT_API_KEY, ProExtendApp
from ponte.sandbox.proextend.switches import PROEXTEND_SWITCHES, merged_common


def command() -> click.Command:
    """The `proextend` click command."""

    @click.command()
    @server_options(default_port=8768, common=merged_common())
    @click.option(
        "--api-key",
        "api_keys",
        multiple=True,
        help="Valid Bearer API key, pex_... (repeat for several keys, each with its own rate limit). "
        "[default: pex_sandbox_key]",
    )
    @click.option(
        "--institution",
        default="demo",
        help="Institution in the base path /<institution>/api/integration/v1 (the real host's subdomain); "
        "other institutions get 404. [default: demo]",
    )
    @switch_options(PROEXTEND_SWITCHES)
    def proextend(
        host: str,
        port: int,
        port_file: str | None,
        seed: int,
        settings: tuple[str, ...],
        api_keys: tuple[str, ...],
        institution: str,
        **values: Any,
    ) -> None:
        """ProExtend integration API (/api/integration/v1: units ... enrollments /sync, sync-status, queries)."""

        switches = collect_switches(values, merged_common() + PROEXTEND_SWITCHES, settings)
        keys = api_keys or (DEFAULT_API_KEY,)
        bad = [k for k in keys if not k.startswith("pex_")]
        if bad:
            raise click.BadParameter("API keys start with pex_", param_hint="--api-key")
        serve_app(
            lambda: ProExtendApp(api_keys=keys, institution=institution, seed=seed, switches=switches),
            host,
            port,
            port_file,
            lambda app, running: (
                f"ProExtend sandbox: base_url={running.base_url} Authorization=Bearer {','.join(keys)} "
                f"status={running.base_url}/sync-status admin={running.url}/_sandbox/proextend/entities"
            ),
        )

    return proextend
