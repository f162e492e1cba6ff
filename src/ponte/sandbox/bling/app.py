"""The Bling sandbox: Bling API v3 as docs/api-facts-bling-totvs.md §1-3 describes it, on localhost.

`/Api/v3/...` with OAuth 2.0 (authorization code, rotating refresh tokens; `bling_oauth.py`), several companies
(Bling accounts) each with its own data, token pairs, 3 requests/second and 120,000 requests/day, the
`{"data": ...}` / `{"error": {...}}` envelopes, `pagina`/`limite` paging without metadata, `name[]` array
filters, and the one-year rule on date ranges. Behaviours the facts mark [G] are switches flagged as guesses
(`bling_switches.py`). Admin endpoints under `/_sandbox/bling/` (`bling_admin.py`) hand out tokens, expire or
revoke them, and change records while a tap reads them.

    app = BlingApp(companies=2, products=120)           # run_in_thread(app) for tests
    ponte sandbox bling --port 8766                      # or python -m ponte.sandbox bling
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ponte.sandbox.bling import account as bling_account
from ponte.sandbox.bling.admin import add_admin_routes
from ponte.sandbox.bling.company import companies as make_companies
from ponte.sandbox.bling.emitter import Emitter
from ponte.sandbox.bling.errors import BlingError, method_not_allowed, not_found, rate_limited, server_error_body
from ponte.sandbox.bling.oauth import OAuthServer, mask
from ponte.sandbox.bling.resources import Resources, add_routes
from ponte.sandbox.bling.switches import BLING_OVERRIDES, BLING_SWITCHES
from ponte.sandbox.credentials import masked_auth
from ponte.sandbox.gates import Admission
from ponte.sandbox.server import Request, Response, Router, SandboxApp, as_response
from ponte.sandbox.timeline import BRT

BASE_PATH = "/Api/v3"
SECRET_KEYS = frozenset({"code", "access_token", "refresh_token", "token", "client_secret"})


class BlingApp(SandboxApp):
    """Bling API v3 for `companies` accounts that authorized one app (`client_id` / `client_secret`)."""

    name = "bling"
    base_path = BASE_PATH
    extra_switches = BLING_OVERRIDES + BLING_SWITCHES
    real_clock_zone = BRT  # what taps compare with

    def __init__(
        self,
        companies: int = 2,
        products: int = 120,
        contacts: int = 80,
        orders: int = 150,
        seed: int = 42,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",
        switches: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(seed)
        self.client_id = client_id
        self.sizes = {"products": products, "contacts": contacts, "orders": orders}
        self.accounts = {
            company.slug: bling_account.build(seed, company, self.switches, products, contacts, orders)
            for company in make_companies(seed, companies)
        }
        self.oauth = OAuthServer(self.switches, client_id, client_secret, lambda: self.accounts)
        ids = [account.company.id for account in self.accounts.values()]
        self.webhooks = Emitter(self.switches, client_secret, ids, seed)  # stock webhooks to `webhook_url`
        self.resources = Resources(self)
        self.api = Router()
        add_routes(self.api, self)
        self.auth_routes = Router()
        self.auth_routes.add("GET", f"{BASE_PATH}/oauth/authorize", self._authorize)
        for prefix in (BASE_PATH, ""):
            self.auth_routes.add("POST", f"{prefix}/oauth/token", self.oauth.token)
            self.auth_routes.add("POST", f"{prefix}/oauth/revoke", self.oauth.revoke)
        add_admin_routes(self)
        if switches:
            self.configure(**switches)

    def close(self) -> None:
        """Stop the webhook thread (RunningSandbox.stop calls this)."""
        self.webhooks.close()

    @property
    def default_company(self) -> str:
        """The first company's slug (loja-matriz)."""
        return next(iter(self.accounts))

    # --- SandboxApp hooks ---------------------------------------------------------------------------------
    def in_scope(self, path: str) -> bool:
        """The API and its OAuth endpoints; anything else is a plain 404."""
        return path == BASE_PATH or path.startswith((f"{BASE_PATH}/", "/oauth/"))

    @staticmethod
    def _is_oauth(path: str) -> bool:
        return path.startswith((f"{BASE_PATH}/oauth/", "/oauth/"))

    def admit(self, request: Request) -> Admission | None:
        """Authenticate first (limits are per account), then the account's gate; OAuth has its own IP limit."""
        if self._is_oauth(request.path):
            return None
        try:
            slug = self.oauth.bearer(request.headers.get("Authorization"))
        except BlingError as error:
            request.context["auth_error"] = error
            request.context["company"] = self.oauth.owner(request.headers.get("Authorization"))
            return None
        account = self.accounts[slug]
        request.context["company"], request.context["account"] = slug, account
        today, to_midnight = self._day()
        return account.gate.admit(today, to_midnight)

    def refuse(self, request: Request, admission: Admission) -> Response:
        """The documented 429 bodies [C], per second or per day; rate headers only with the `rate_headers` guess."""
        if admission.reason == "daily_quota":
            body = rate_limited(self.switches["daily_quota"], "day")
        else:
            body = rate_limited(self.switches["rate_limit"], "second")
        return Response(429, body, dict(admission.headers) if self.switches["rate_headers"] else {})

    def faults_apply(self, request: Request) -> bool:
        """Injected faults hit API requests; OAuth requests only with `faults_on_oauth`."""
        return self.switches["faults_on_oauth"] or not self._is_oauth(request.path)

    def error_body(self, status: int, message: str) -> Any:
        """Bling's envelope for injected failures and sandbox errors."""
        return server_error_body(status)

    def serve(self, request: Request) -> Response:
        """OAuth endpoints, then authenticated resource endpoints; errors in Bling's envelope."""
        try:
            return self._serve(request)
        except BlingError as error:
            return Response(error.status, error.body)

    def _serve(self, request: Request) -> Response:
        handler, params, exists = self.auth_routes.match(request.method, request.path)
        if handler is not None:
            request.params = params
            return as_response(handler(request))
        if exists:
            raise method_not_allowed(request.method)
        if not request.path.startswith(f"{BASE_PATH}/"):
            raise not_found()
        if "auth_error" in request.context:
            raise request.context["auth_error"]
        if "account" not in request.context:  # served without the gate (never in the normal pipeline)
            slug = self.oauth.bearer(request.headers.get("Authorization"))
            request.context["company"], request.context["account"] = slug, self.accounts[slug]
        handler, params, exists = self.api.match(request.method, request.path[len(BASE_PATH) :])
        if handler is None:
            raise method_not_allowed(request.method) if exists else not_found()
        request.params = params
        with request.context["account"].lock:
            return as_response(handler(request))

    def _authorize(self, request: Request) -> Response:
        return self.oauth.authorize(request, self.default_company)

    def log_fields(self, request: Request, response: Response) -> dict[str, Any]:
        """Which company a request was for, and its credentials masked (never in clear).

        Unlike Sienge's log, every query value is a list (Bling's filters are repeated `name[]` keys).
        """
        fields: dict[str, Any] = {
            "company": request.context.get("company"),
            "auth": masked_auth(request.headers.get("Authorization"), mask),
            "query": {k: _query_value(k, v) for k, v in request.query_all.items()},
        }
        if request.body and request.method == "POST" and not self._is_oauth(request.path):
            fields["body"] = _json_or_text(request.body)  # postings (POST /estoques) as received: no secrets
        form = request.context.get("form")
        if form is not None:
            fields["form"] = {k: mask(v) if k in SECRET_KEYS else v for k, v in form.items()}
        if request.context.get("fault") and not response.fault:
            response.fault = request.context["fault"]
            fields["fault"] = response.fault
        return fields

    # --- counters and limits ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The shared counters plus each account's quota use today."""
        stats = super().stats()
        per = {slug: {"quota_used_today": account.gate.day_usage()} for slug, account in self.accounts.items()}
        stats["companies"] = per
        stats["quota_used_today"] = sum(c["quota_used_today"] for c in per.values())
        return stats

    def reset_limits(self) -> dict[str, Any]:
        """Forget every account's rate window and quota, and the token endpoint's IP windows and blocks."""
        for account in self.accounts.values():
            account.gate.reset()
        self.oauth.reset_limits()
        return {"status": "ok"}


def _json_or_text(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:2000].decode("utf-8", "replace")


def _query_value(name: str, values: list[str]) -> list[str | None]:
    return [mask(v) for v in values] if name in SECRET_KEYS else list(values)


__all__ = ["BASE_PATH", "BLING_OVERRIDES", "BLING_SWITCHES", "BlingApp"]
