"""Test-only endpoints of the Bling sandbox (JSON, under `/_sandbox/bling/`), for harnesses and taps' tests.

- `GET  info`                  companies (slug, id, nome), base path, client id, redirect URI, sizes, clock
- `POST grant`                 `{"company": slug}` -> a token response, without the browser flow
- `POST expire-access-tokens`  `{"company": slug}` -> `{"expired": n}`: that company's access tokens expire now
- `POST revoke-refresh-tokens` `{"company": slug}` -> `{"revoked": n}` (alias `POST revoke`)
- `POST touch`                 `{"company", "resource": produtos|contatos|pedidos, "id"?, "changes"?, "deleted"?,
                               "modified_at"?}` -> the record as its detail endpoint shows it, now changed;
                               no id: the oldest record; `changes` are merged (nested objects too); `deleted`
                               (produtos) moves a product to the excluded ones (criterio 4); a contact's
                               situacao "E" excludes it; `modified_at` defaults to the sandbox clock
- `GET  tokens`                per company: authorizations, code exchanges/reuses, refreshes, dead refresh
                               attempts, live tokens; IPs blocked on the token endpoint
- `POST advance-clock`         `{"seconds": n}`: the token clock (codes, tokens, IP blocks) jumps forward
`company` defaults to the first company (loja-matriz).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ponte.sandbox.bling.account import Account
from ponte.sandbox.bling.company import Rec, render_dates
from ponte.sandbox.bling.query import local_naive
from ponte.sandbox.server import Request, object_body
from ponte.sandbox.timeline import BRT

if TYPE_CHECKING:
    from ponte.sandbox.bling.app import BlingApp

Answer = tuple[int, dict[str, str], Any]
RESOURCES = {"produtos": "produtos", "contatos": "contatos", "pedidos": "pedidos", "pedidos/vendas": "pedidos"}


def add_admin_routes(app: BlingApp) -> None:
    """Register the Bling admin endpoints on the app's admin router."""
    routes = {
        ("GET", "info"): info,
        ("POST", "grant"): grant,
        ("POST", "expire-access-tokens"): expire_access_tokens,
        ("POST", "revoke-refresh-tokens"): revoke_refresh_tokens,
        ("POST", "revoke"): revoke_refresh_tokens,
        ("POST", "touch"): touch,
        ("GET", "tokens"): tokens,
        ("POST", "advance-clock"): advance_clock,
    }
    app.add_admin_routes(routes)


def _account(app: BlingApp, body: dict[str, Any]) -> Account:
    slug = body.get("company") or app.default_company
    if slug not in app.accounts:
        raise ValueError(f"unknown company '{slug}'; known: {', '.join(app.accounts)}")
    return app.accounts[slug]


def info(app: BlingApp, request: Request) -> Answer:
    """What a harness needs to know to talk to the sandbox."""
    companies = [
        {
            "slug": a.slug,
            "id": a.company.id,
            "nome": a.company.nome,
            "cnpj": a.company.cnpj,
            "products": len(a.catalog.products),
            "contacts": len(a.people.contacts),
            "orders": len(a.orders),
        }
        for a in app.accounts.values()
    ]
    return (
        200,
        {},
        {
            "base_path": app.base_path,
            "client_id": app.client_id,
            "redirect_uri": app.switches["redirect_uri"],
            "seed": app.seed,
            "companies": companies,
            "now": app.now().isoformat(),
        },
    )


def grant(app: BlingApp, request: Request) -> Answer:
    """A token pair for a company, as the token endpoint would answer a code exchange."""
    return 200, {}, app.oauth.grant(_account(app, object_body(request)).slug)


def expire_access_tokens(app: BlingApp, request: Request) -> Answer:
    return 200, {}, {"expired": app.oauth.expire_access_tokens(_account(app, object_body(request)).slug)}


def revoke_refresh_tokens(app: BlingApp, request: Request) -> Answer:
    return 200, {}, {"revoked": app.oauth.revoke_refresh_tokens(_account(app, object_body(request)).slug)}


def tokens(app: BlingApp, request: Request) -> Answer:
    return 200, {}, app.oauth.stats()


def advance_clock(app: BlingApp, request: Request) -> Answer:
    seconds = object_body(request).get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ValueError('advance-clock expects {"seconds": n}')
    return 200, {}, {"offset_seconds": app.oauth.advance(float(seconds))}


def touch(app: BlingApp, request: Request) -> Answer:
    """Change a record (optionally) and set its hidden last-modified time; answer its detail form."""
    body = object_body(request)
    account = _account(app, body)
    resource = RESOURCES.get(str(body.get("resource", "produtos")))
    if resource is None:
        raise ValueError(f"resource must be one of {', '.join(RESOURCES)}")
    changes = body.get("changes") or {}
    if not isinstance(changes, dict) or "id" in changes:
        raise ValueError('"changes" must be an object of fields to merge (not "id")')
    moment = body.get("modified_at")
    when = local_naive(_moment(moment)) if moment else local_naive(app.now())
    with account.lock:
        rec = _find(account, resource, body.get("id"))
        _merge(rec.data, changes)
        if resource == "contatos":
            rec.excluded = rec.data["situacao"] == "E"
        elif resource == "produtos" and isinstance(body.get("deleted"), bool):
            rec.excluded = body["deleted"]
        rec.modified = when
        shown = app.resources.product_detail(account, rec) if resource == "produtos" else dict(rec.data)
    return 200, {}, render_dates(shown, app.switches["empty_date"])


def _find(account: Account, resource: str, wanted: Any) -> Rec:
    recs = {"produtos": account.catalog.products, "contatos": account.people.contacts, "pedidos": account.orders}[
        resource
    ]
    if wanted is None:
        return next((r for r in recs if not r.excluded), recs[0])
    for rec in recs:
        if rec.id == wanted:
            return rec
    raise ValueError(f"{resource} {wanted} does not exist in company {account.slug}")


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _moment(text: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=BRT)
