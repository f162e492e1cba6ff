"""The RetailPortal sandbox's runtime switches: RetailPortal's defaults for the shared ones, and its own.

Source: /work/shared/seeds/retailportal-best-practices.md (chapter 9, "Boas Práticas da Integração"). What it
states is plain; what it leaves open (job status path, states, error bodies, field names beyond erpId and
description, the concurrent-job limit) is a switch or a behaviour flagged `guess=True`.
"""

from __future__ import annotations

from ponte.sandbox.switches import COMMON_SWITCHES, Switch, non_negative, positive


def _status(value: int) -> str | None:
    return None if 400 <= value <= 599 else "must be 4xx/5xx"


# Seed §9.9: "Limite de Taxa: 100 requisições/min por chave de API" (every request counts, polls included).
RETAILPORTAL_OVERRIDES: tuple[Switch, ...] = (
    Switch("rate_limit", 100, "Requests allowed per API key per rate window; RetailPortal: 100 per minute, job polls included (0 = no limit).", check=non_negative),
    Switch("rate_window_seconds", 60.0, "Length of each API key's fixed rate window, in seconds.", check=positive),
    Switch("retry_after_header", True, "Send Retry-After (seconds until the key's window ends) on 429 responses.", guess=True),
    Switch("rate_headers", False, "Send X-RateLimit-*/RateLimit-* headers on allowed responses; the seed documents none.", guess=True),
)  # fmt: skip

RETAILPORTAL_SWITCHES: tuple[Switch, ...] = (
    Switch("items_per_second", 4.0, "Items a batch job processes per (sandbox) second; seed: ~3-5 items/s.", check=positive),
    Switch("time_scale", 1.0, "Sandbox seconds per real second for job processing (e.g. 1000: a 1,000-item job ends in 0.25 s; 0: jobs move only via POST /_sandbox/retailportal/advance).", check=non_negative),
    Switch("max_batch_items", 1000, "Most items one POST /erp-data/product/batch accepts (seed: 1,000, the API's absolute limit).", check=non_negative),
    Switch("over_limit_status", 400, "HTTP status of a batch with more than max_batch_items items.", guess=True, check=_status),
    Switch("max_concurrent_jobs", 5, "Jobs processed at the same time (all keys together); later ones wait in state Enqueued (0 = no limit).", guess=True, check=non_negative),
    Switch("duplicate_erpid_in_batch", "fail", "A second item with an erpId already seen in the same batch: 'fail' (per-item failure) or 'upsert' (last one wins).", guess=True, choices=("fail", "upsert")),
    Switch("job_fail_next", 0, "The next N jobs fail as a whole (state Failed, no item applied), like a crashed Hangfire job.", check=non_negative),
    Switch("job_status_links", "both", "Where a 202 names the job's status URL: 'both' (Location header and statusUrl in the body), 'location' (the standard header only), 'body' (statusUrl only) or 'none'.", guess=True, choices=("both", "location", "body", "none")),
    Switch("job_status_route", "jobs", "Where a job's status is served: 'jobs' (GET /erp-data/jobs/{jobId}) or 'product-batch' (GET /erp-data/product/batch/{jobId}); the other path answers 404.", guess=True, choices=("jobs", "product-batch")),
    Switch("job_success_state", "Succeeded", "State of a job that ran to its end: Hangfire's 'Succeeded', or 'Completed' / 'Done' as other servers name it.", guess=True, choices=("Succeeded", "Completed", "Done")),
    Switch("item_error_field", "errors", "Field of a per-item failure that holds its problems: 'errors' (a list of {field, message}) or one sentence under 'message', 'error' or 'detail'.", guess=True, choices=("errors", "message", "error", "detail")),
    Switch("empty_latest", "null", "get-latest-integration before any successful batch: 'null' (200, lastDateTime null) or '404'.", guess=True, choices=("null", "404")),
)  # fmt: skip


def merged_common() -> tuple[Switch, ...]:
    """The shared switches with RetailPortal's defaults in place (same order as COMMON_SWITCHES)."""
    overrides = {s.name: s for s in RETAILPORTAL_OVERRIDES}
    return tuple(overrides.get(s.name, s) for s in COMMON_SWITCHES)


__all__ = ["RETAILPORTAL_OVERRIDES", "RETAILPORTAL_SWITCHES", "merged_common"]
