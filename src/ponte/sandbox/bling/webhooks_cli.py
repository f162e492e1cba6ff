"""`ponte sandbox bling-webhooks`: send signed Bling webhook events (`ponte.sandbox.bling.webhooks`) to a URL.

`ponte.sandbox.cli` registers it; `switch_options` labels the guesses as in every sandbox's help.
"""

from __future__ import annotations

import statistics
from typing import Any

import click

from ponte.sandbox.bling.webhooks import EVENTS, WEBHOOK_SWITCHES, WebhookSender
from ponte.sandbox.cli_options import collect_switches, switch_options


def _company_ids(sandbox: str | None, given: tuple[str, ...], seed: int) -> list[str]:
    if given:
        return list(given)
    if sandbox:
        import requests

        info = requests.get(f"{sandbox.rstrip('/')}/_sandbox/bling/info", timeout=10).json()
        return [c["id"] for c in info["companies"]]
    from ponte.sandbox.bling.company import companies

    return [c.id for c in companies(seed, 2)]  # what `ponte sandbox bling` serves with the same seed


@click.command("bling-webhooks")
@click.option("--url", required=True, help="Receiver, e.g. http://127.0.0.1:8780/webhooks/bling.")
@click.option("--client-secret", default="sandbox-client-secret", show_default=True,
              help="The app's client_secret: the key of X-Bling-Signature-256.")  # fmt: skip
@click.option("--company-id", "company_ids", multiple=True,
              help="companyId of the events (repeat). Default: --sandbox's companies, else the Bling sandbox's "
                   "default ones for --seed.")  # fmt: skip
@click.option("--sandbox", help="A running Bling sandbox's URL: its companies' ids are used.")
@click.option("--count", default=10, show_default=True, type=click.IntRange(1), help="Events to send.")
@click.option("--rate", default=0.0, show_default=True, type=float, help="Events per second (0 = at once).")
@click.option("--event", "kinds", multiple=True, type=click.Choice(EVENTS),
              help="Event names to cycle through (repeat) [default: product.updated].")  # fmt: skip
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of record ids and of the guesses.")
@click.option("--set", "settings", multiple=True, metavar="SWITCH=JSON", help="Any switch below as JSON.")
@switch_options(WEBHOOK_SWITCHES)
def bling_webhooks(url: str, client_secret: str, company_ids: tuple[str, ...], sandbox: str | None, count: int,
                   rate: float, kinds: tuple[str, ...], seed: int, settings: tuple[str, ...],
                   **values: Any) -> None:  # fmt: skip
    """Send Bling webhook events (real envelope, signed) to a receiver, with Bling's retries."""
    switches = collect_switches(values, WEBHOOK_SWITCHES, settings)
    sender = WebhookSender(url, client_secret, _company_ids(sandbox, company_ids, seed), seed=seed, **switches)
    result = sender.send_burst(sender.events(count, kinds or ("product.updated",)), rate=rate)
    firsts = [d for d in result.deliveries if d.attempt == 1]
    ms = sorted(d.seconds * 1000 for d in result.deliveries)
    p95 = ms[int(0.95 * (len(ms) - 1))] if ms else 0.0
    click.echo(f"sent {count} events in {len(firsts)} deliveries ({len(result.deliveries)} attempts), "
               f"{sum(d.ok for d in result.deliveries)} answered 2xx, given up {len(result.given_up)}; "
               f"latency p50={statistics.median(ms) if ms else 0:.1f} ms p95={p95:.1f} ms "
               f"in {result.wall_seconds:.1f} s")  # fmt: skip
    if result.given_up:
        raise SystemExit(1)
