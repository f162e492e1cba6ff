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
- `POST simulate-sale`         `{"company", "codigo" | "produto": id, "deposito"?: id or descricao, "quantidade"?: 1}`
                               -> a sale in that account lowers the deposit's physical balance (operacao S; a kit
                               lowers its components) like an order that posts its stock; default deposit: the
                               padrao one; answers the movements with the new balances and the queued eventIds
- `GET  webhooks`              the stock webhooks: URL, counters (queued, suppressed, delivered, failed_attempts,
                               pending) and every delivery attempt (eventId, event, companyId, attempt, status)
- `POST webhooks/reset`        forget those attempts and counters
`company` defaults to the first company (loja-matriz). The webhook URL and its switches are set like every
switch: `POST /_sandbox/config {"webhook_url": "http://..."}` or `--webhook-url` at start.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ponte.sandbox.bling.account import Account
from ponte.sandbox.bling.company import Rec, render_dates
from ponte.sandbox.bling.errors import BlingError
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
        ("POST", "simulate-sale"): simulate_sale,
        ("GET", "webhooks"): lambda app, request: (200, {}, app.webhooks.report()),
        ("POST", "webhooks/reset"): lambda app, request: (200, {}, app.webhooks.reset()),
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


def simulate_sale(app: BlingApp, request: Request) -> Answer:
    """A sale in one account: `S` movements on the product (or a kit's components), then its stock webhooks."""
    body = object_body(request)
    account = _account(app, body)
    quantity = body.get("quantidade", 1)
    if not isinstance(quantity, int | float) or isinstance(quantity, bool) or quantity <= 0:
        raise ValueError('"quantidade" must be a positive number')
    with account.lock:
        rec = _sold_product(account, body)
        deposit = _sale_deposit(account, body.get("deposito"))
        parts = [(rec.id, 1.0)]
        if rec.data["formato"] == "E":  # a kit posts no stock of its own: its components leave the deposit
            parts = [(c["produto"]["id"], c["quantidade"]) for c in rec.data["estrutura"]["componentes"]]
        try:
            moves = [
                account.stock.post(
                    {
                        "produto": {"id": pid},
                        "deposito": {"id": deposit},
                        "operacao": "S",
                        "quantidade": per * quantity,
                    },
                    refuse_variation_parent=True,
                )
                for pid, per in parts
            ]
        except BlingError as error:
            raise ValueError(_explain(error)) from None
        shown = []
        for move in moves:
            physical, virtual = account.stock.at(move.product, move.deposit)
            shown.append({"id": move.id, "produto": {"id": move.product}, "deposito": {"id": move.deposit},
                          "operacao": "S", "quantidade": move.quantidade, "saldoFisico": physical,
                          "saldoVirtual": virtual})  # fmt: skip
        events = app.webhooks.stock_moved(account, moves)
    product = {"id": rec.id, "codigo": rec.data["codigo"], "formato": rec.data["formato"]}
    return 200, {}, {"company": account.slug, "produto": product, "deposito": {"id": deposit},
                     "movements": shown, "events": events}  # fmt: skip


def _sold_product(account: Account, body: dict[str, Any]) -> Rec:
    if body.get("produto") is not None:
        wanted = body["produto"]["id"] if isinstance(body["produto"], dict) else body["produto"]
        rec = account.catalog.by_id.get(int(wanted))
        if rec is None or rec.excluded:
            raise ValueError(f"produto {wanted} does not exist in company {account.slug}")
        return rec
    code = body.get("codigo")
    if not isinstance(code, str) or not code:
        raise ValueError('simulate-sale needs "codigo" or "produto"')
    for rec in account.catalog.products:
        if rec.data["codigo"] == code and not rec.excluded:
            return rec
    raise ValueError(f"no product with codigo {code!r} in company {account.slug}")


def _sale_deposit(account: Account, wanted: Any) -> int:
    if wanted is None:
        return account.stock.default_deposit
    for rec in account.catalog.deposits:
        if wanted in (rec.id, rec.data["descricao"]) or (isinstance(wanted, str) and wanted == str(rec.id)):
            return rec.id
    raise ValueError(f"deposit {wanted!r} does not exist in company {account.slug}")


def _explain(error: BlingError) -> str:
    inner = error.body["error"]
    details = "; ".join(f["msg"] for f in inner.get("fields", []))
    return f"{inner['description']} {details}".strip()
