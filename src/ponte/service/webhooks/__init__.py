"""Webhook intake of `ponte serve`: Bling events land in `<schema>.webhook_events`, rules turn them into runs.

The service mounts `routes(ctx)` (POST /webhooks/bling) and runs one `Processor(ctx)` beside it:

    ctx = WebhookContext.from_env(dsn, project, start_run=launcher.start, notify=alerter)
    app = Starlette(routes=[*routes(ctx), ...]); processor = Processor(ctx); await processor.start()

docs/webhooks.md is the user's guide; `webhooks/bling.yml` the rules.
"""

from __future__ import annotations

from starlette.routing import Route

from ponte.service.webhooks.context import BlingSettings, WebhookContext
from ponte.service.webhooks.intake import BlingIntake
from ponte.service.webhooks.processor import Processor
from ponte.service.webhooks.rules import Rules, load_rules


def routes(ctx: WebhookContext, rules: Rules | None = None) -> list[Route]:
    """The intake endpoints (the rules file is read now: a broken one fails the service's start, not an event)."""
    ctx.bling_settings  # noqa: B018 (resolved now, not on the first request: it may ask Meltano)
    intake = BlingIntake(ctx, rules or load_rules(ctx.rules_file), ctx.event_store())
    return [Route("/webhooks/bling", intake.handle, methods=["POST"], name="webhooks-bling")]


__all__ = ["BlingSettings", "Processor", "WebhookContext", "routes"]
