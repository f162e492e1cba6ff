"""Test-only endpoints of the RetailPortal sandbox (JSON, under `/_sandbox/retailportal/`).

- `GET  info`           base path, API keys, clock (sandbox seconds), counts of products/jobs/history
- `GET  products`       every stored product (`?erpId=n`: that one, 404 if absent), ordered by erpId
- `GET  jobs`           every job's status body (as `GET /erp-data/jobs/{id}` shows it), oldest first
- `GET  jobs/{jobId}`   one job's status body plus the items it was sent
- `GET  history`        the integration history, all entity types, newest first
- `POST advance`        `{"seconds": n}`: the job clock jumps n sandbox seconds (n * items_per_second items
                        per running job); answers the jobs' status bodies
- `POST reset`          forget products, jobs and history (switches and rate windows stay)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ponte.sandbox.server import Request

if TYPE_CHECKING:
    from ponte.sandbox.retailportal.app import RetailPortalApp

Answer = tuple[int, dict[str, str], Any]


def add_admin_routes(app: RetailPortalApp) -> None:
    """Register the RetailPortal admin endpoints on the app's admin router."""
    routes = {
        ("GET", "info"): info,
        ("GET", "products"): products,
        ("GET", "jobs"): jobs,
        ("GET", "jobs/(?P<job_id>[^/]+)"): job,
        ("GET", "history"): history,
        ("POST", "advance"): advance,
        ("POST", "reset"): reset,
    }
    app.add_admin_routes(routes)


def info(app: RetailPortalApp, request: Request) -> Answer:
    """What a harness needs to know to talk to the sandbox."""
    store = app.store
    with store.lock:
        store.tick()
        body = {
            "base_path": app.base_path,
            "api_keys": list(app.api_keys),
            "auth_header": "X-API-Key",
            "clock_seconds": store.sim,
            "clock": store.moment().isoformat(),
            "products": len(store.products),
            "jobs": len(store.jobs),
            "history": len(store.history),
        }
    return 200, {}, body


def products(app: RetailPortalApp, request: Request) -> Answer:
    """Stored products by erpId."""
    store = app.store
    with store.lock:
        store.tick()
        wanted = request.query.get("erpId")
        if wanted:
            product = store.products.get(int(wanted))
            if product is None:
                return 404, {}, {"message": f"no product with erpId {wanted}"}
            return 200, {}, product
        return 200, {}, [store.products[k] for k in sorted(store.products)]


def jobs(app: RetailPortalApp, request: Request) -> Answer:
    """Every job's status."""
    store = app.store
    with store.lock:
        store.tick()
        return 200, {}, [store.job_view(j) for j in store.jobs.values()]


def job(app: RetailPortalApp, request: Request) -> Answer:
    """One job's status and items."""
    store = app.store
    with store.lock:
        store.tick()
        found = store.jobs.get(request.params["job_id"])
        if found is None:
            return 404, {}, {"message": f"no job {request.params['job_id']}"}
        return 200, {}, store.job_view(found, items=True)


def history(app: RetailPortalApp, request: Request) -> Answer:
    """The whole integration history."""
    app.store.tick()
    return 200, {}, app.store.history_view(None, None)


def advance(app: RetailPortalApp, request: Request) -> Answer:
    """Move the job clock forward."""
    body = request.json()
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise ValueError('expects {"seconds": n} with n >= 0')
    store = app.store
    with store.lock:
        store.tick(float(seconds))
        return 200, {}, {"clock_seconds": store.sim, "jobs": [store.job_view(j) for j in store.jobs.values()]}


def reset(app: RetailPortalApp, request: Request) -> Answer:
    """Forget all data."""
    app.store.reset()
    return 200, {}, {"status": "ok"}
