"""The TOTVS sandbox: three TOTVS flavours on one server, as docs/api-facts-bling-totvs.md §5-6 describes them.

- **Protheus** under `/rest` (`totvs_protheus.py`): Basic or OAuth2 bearer, `TenantId` header, genericQuery
  over SB1/SC2/SB8 as the database stores them, the MRP production orders API.
- **The plant's own API** under `/plant/api` (`totvs_plant.py`): the SicFar seed's `/auth/token`,
  `/produtos`, `/ordens-producao`, `/lotes`, a facade over the same Protheus rows.
- **RM Educacional** under `/api` (`totvs_rm.py`): JWT from `/api/connect/token`, the educational API v1.

All share the TOTVS API standard (`totvs_query.py`: `{hasNext, items}`, page/pageSize with multiplier
semantics, order, fields) and error model (`totvs_errors.py`), the shared fault and rate switches (one rate
gate per flavour), and the token store (`totvs_tokens.py`). Data: a pharmaceutical plant (`totvs_pharma.py`)
and a school (`totvs_school.py`), deterministic per seed. Guesses are switches flagged as such
(`totvs_switches.py`); admin endpoints under `/_sandbox/totvs/` (`totvs_admin.py`).

    app = TotvsApp(orders=120, students=600)       # run_in_thread(app) for tests
    ponte sandbox totvs --port 8767                 # or python -m ponte.sandbox totvs
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ponte.sandbox.credentials import masked_auth
from ponte.sandbox.gates import Admission, RateGate
from ponte.sandbox.server import Request, Response, SandboxApp
from ponte.sandbox.totvs import pharma as totvs_pharma
from ponte.sandbox.totvs import school as totvs_school
from ponte.sandbox.totvs.admin import add_admin_routes
from ponte.sandbox.totvs.auth import masked
from ponte.sandbox.totvs.errors import TotvsError, injected, not_found
from ponte.sandbox.totvs.flavour import FlavourApi
from ponte.sandbox.totvs.plant import PlantApi
from ponte.sandbox.totvs.protheus import ProtheusApi
from ponte.sandbox.totvs.rm import RmApi
from ponte.sandbox.totvs.switches import FLAVOURS, TOTVS_OVERRIDES, TOTVS_SWITCHES
from ponte.sandbox.totvs.tokens import TokenStore, mask

PREFIXES = {"protheus": "/rest", "plant": "/plant/api", "rm": "/api"}
SECRET_HEADERS = frozenset({"password", "refresh_token", "client_secret"})


def flavour_of(path: str) -> str | None:
    """Which flavour serves a path (None: none of them)."""
    lowered = path.lower()
    if lowered == "/rest" or lowered.startswith("/rest/"):
        return "protheus"
    if lowered.startswith("/plant/api/"):
        return "plant"
    if lowered.startswith("/api/"):
        return "rm"
    return None


class TotvsApp(SandboxApp):
    """Protheus, the plant's API and RM Educacional, each with its own users and token lifetimes."""

    name = "totvs"
    base_path = ""
    extra_switches = TOTVS_OVERRIDES + TOTVS_SWITCHES
    real_clock_zone = dt.UTC
    real_clock_microseconds = True

    def __init__(
        self,
        orders: int = 120,
        students: int = 600,
        seed: int = 42,
        protheus_user: str = "admin",
        protheus_password: str = "totvs-sandbox",
        plant_client_id: str = "plant-client",
        plant_client_secret: str = "plant-secret",
        rm_user: str = "mestre",
        rm_password: str = "totvs",
        switches: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(seed)
        self.sizes = {"orders": orders, "students": students}
        self.users = {
            "protheus": protheus_user,
            "plant": plant_client_id,
            "rm": rm_user,
        }
        self.tokens = TokenStore(self.switches)
        self.plant = totvs_pharma.build(seed, orders)
        self.school = totvs_school.build(seed, students)
        self.flavours: dict[str, FlavourApi] = {
            "protheus": ProtheusApi(self.switches, self.tokens, self.plant, protheus_user, protheus_password, self.now),
            "plant": PlantApi(self.switches, self.tokens, self.plant, plant_client_id, plant_client_secret, self.now),
            "rm": RmApi(self.switches, self.tokens, self.school, rm_user, rm_password),
        }
        self.gates = {flavour: RateGate(self.switches) for flavour in FLAVOURS}
        add_admin_routes(self)
        if switches:
            self.configure(**switches)

    # --- SandboxApp hooks ---------------------------------------------------------------------------------
    def in_scope(self, path: str) -> bool:
        """The three flavours' prefixes; anything else gets a 404 in the TOTVS model, outside the gates."""
        return flavour_of(path) is not None

    def admit(self, request: Request) -> Admission | None:
        """Each flavour (a separate product in real life) has its own rate window and daily quota."""
        flavour = flavour_of(request.path)
        if flavour is None:
            return None
        today, to_midnight = self._day()
        return self.gates[flavour].admit(today, to_midnight)

    def refuse(self, request: Request, admission: Admission) -> Response:
        return Response(429, self._error(injected(429)), dict(admission.headers))

    def faults_apply(self, request: Request) -> bool:
        """Injected faults hit data requests; token requests only with `faults_on_auth`."""
        flavour = flavour_of(request.path)
        if flavour is None:
            return False
        return self.switches["faults_on_auth"] or not self.flavours[flavour].is_auth_path(request.path)

    def error_body(self, status: int, message: str) -> Any:
        """Injected failures and sandbox bugs in the TOTVS error model."""
        body = injected(status)
        if status == 500 and message.startswith("sandbox error"):
            body["detailedMessage"] = message
        return self._error(body)

    def _error(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.switches["error_code_type"] == "number" and str(body["code"]).isdigit():
            body["code"] = int(body["code"])
        return body

    def serve(self, request: Request) -> Response:
        flavour = flavour_of(request.path)
        try:
            if flavour is None:
                raise not_found(f"No route for {request.method} {request.path}")
            request.context["flavour"] = flavour
            return self.flavours[flavour].serve(request)
        except TotvsError as error:
            return Response(error.status, error.body(self.switches["error_code_type"]), dict(error.headers))

    def log_fields(self, request: Request, response: Response) -> dict[str, Any]:
        """Flavour, user, tenant; credentials masked (Authorization, password/refresh_token in query, headers, body)."""
        fields: dict[str, Any] = {
            "flavour": request.context.get("flavour") or flavour_of(request.path),
            "user": request.context.get("user"),
            "tenant": request.context.get("tenant"),
            "auth": masked_auth(request.headers.get("Authorization"), mask),
            "headers": masked({k: v for k, v in request.headers.items() if k.lower() != "authorization"}),
            "query": masked({k: v if len(v) > 1 else v[0] for k, v in request.query_all.items()}),
        }
        for key in ("body", "form"):
            if key in request.context:
                fields[key] = masked(request.context[key])
        return fields

    # --- counters and limits ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The shared counters plus each flavour's quota use today."""
        stats = super().stats()
        per = {flavour: {"quota_used_today": gate.day_usage()} for flavour, gate in self.gates.items()}
        stats["flavours"] = per
        stats["quota_used_today"] = sum(f["quota_used_today"] for f in per.values())
        return stats

    def reset_limits(self) -> dict[str, Any]:
        """Forget every flavour's rate window and quota."""
        for gate in self.gates.values():
            gate.reset()
        return {"status": "ok"}


__all__ = ["PREFIXES", "TotvsApp", "flavour_of"]
