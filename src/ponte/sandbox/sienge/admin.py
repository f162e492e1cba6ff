"""Test-only endpoints of the Sienge sandbox: change data while a tap is reading it.

`POST /_sandbox/sienge/customers/touch` moves existing customers' `modifiedAt` (incremental syncs must pick
them up), `POST /_sandbox/sienge/customers/insert` adds new newest customers (newest-first paging shifts),
and the same two exist for `sales-contracts`. `GET /_sandbox/sienge/info` tells a harness what it talks to.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Any

from ponte.sandbox.server import Request
from ponte.sandbox.timeline import BRT, Timeline

if TYPE_CHECKING:
    from ponte.sandbox.sienge.app import SiengeApp

RESOURCES = r"(?P<resource>customers|sales-contracts)"


def add_admin_routes(app: SiengeApp) -> None:
    """Register the Sienge admin endpoints on the app's admin router."""
    app.admin.add("POST", rf"/_sandbox/sienge/{RESOURCES}/touch", functools.partial(touch, app))
    app.admin.add("POST", rf"/_sandbox/sienge/{RESOURCES}/insert", functools.partial(insert, app))
    app.admin.add("GET", "/_sandbox/sienge/info", functools.partial(info, app))


def _timeline(app: SiengeApp, request: Request) -> Timeline:
    return app.customers if request.params["resource"] == "customers" else app.contracts


def _moment(app: SiengeApp, text: Any) -> dt.datetime:
    if text is None:
        return app.now()
    moment = dt.datetime.fromisoformat(str(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=BRT)


def touch(app: SiengeApp, request: Request) -> tuple[int, dict[str, str], Any]:
    """{"ids": [...], "modified_at": "2026-07-02T10:00:00"} (default: the sandbox clock)."""
    body = request.json()
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValueError('touch expects {"ids": [integers], "modified_at": "yyyy-MM-ddTHH:mm:ss"}')
    timeline = _timeline(app, request)
    missing = [i for i in ids if not 1 <= i <= timeline.total]
    if missing:
        raise ValueError(f"ids {missing} do not exist ({request.params['resource']} has ids 1..{timeline.total})")
    moment = _moment(app, body.get("modified_at"))
    timeline.touch(ids, moment)
    return 200, {}, {"touched": ids, "modified_at": moment.isoformat()}


def insert(app: SiengeApp, request: Request) -> tuple[int, dict[str, str], Any]:
    """{"count": n}: n new records with the highest ids, created and modified at the sandbox clock."""
    body = request.json()
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1_000_000:
        raise ValueError('insert expects {"count": n} with 1 <= n <= 1000000')
    timeline = _timeline(app, request)
    ids = timeline.insert(count, _moment(app, body.get("created_at")))
    return 200, {}, {"ids": ids, "total": timeline.total}


def info(app: SiengeApp, request: Request) -> tuple[int, dict[str, str], Any]:
    """What a harness needs to know: base path, user, sizes, clock."""
    return (
        200,
        {},
        {
            "subdomain": app.subdomain,
            "base_path": app.base_path,
            "username": app.username,
            "seed": app.seed,
            "records": app.records,
            "customers": app.customers.total,
            "sales_contracts": app.contracts.total,
            "now": app.now().isoformat(),
        },
    )
