"""Test-only endpoints of the TOTVS sandbox (JSON, under `/_sandbox/totvs/`), for harnesses and taps' tests.

- `GET  info`             users, prefixes, tenants, table sizes, academics, sample professor/class ids, clock
- `POST protheus/touch`   `{"table": "SB1"|"SC2"|"SB8", "key"?, "branch"?: "01", "changes"?: {field: value},
                          "deleted"?: bool, "at"?: ISO}` -> the row as genericQuery shows it, now changed and
                          stamped (`S_T_A_M_P_`, and the plant API's `atualizadoEm`) at `at` or the sandbox
                          clock. `key`: R_E_C_N_O_ (int), the record key ('PA0001'; SC2 '00410101001';
                          SB8 'PA0001|01|26110123'), or {field: value}; none: the branch's first row. `changes`
                          take plain values (no padding; dates 'YYYY-MM-DD', 'YYYYMMDD' or '' for blank)
- `POST expire-tokens`    `{"flavour"?: "protheus"|"plant"|"rm", "refresh"?: bool}` -> `{"expired": n}`: access
                          tokens (and refresh tokens with `refresh`) of that flavour (all without) expire now
- `POST advance-clock`    `{"seconds": n}`: the token clock jumps forward
- `GET  tokens`           per flavour: issued, refreshed, refused refreshes, rejected bearers, live tokens
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ponte.sandbox.server import Request, object_body
from ponte.sandbox.totvs.pharma import BRANCHES, TENANTS
from ponte.sandbox.totvs.protheus import render_row
from ponte.sandbox.totvs.switches import FLAVOURS
from ponte.sandbox.totvs.tables import stamp_text

if TYPE_CHECKING:
    from ponte.sandbox.totvs.app import TotvsApp

Answer = tuple[int, dict[str, str], Any]


def add_admin_routes(app: TotvsApp) -> None:
    """Register the TOTVS admin endpoints on the app's admin router."""
    routes = {
        ("GET", "info"): info,
        ("POST", "protheus/touch"): touch,
        ("POST", "expire-tokens"): expire_tokens,
        ("POST", "advance-clock"): advance_clock,
        ("GET", "tokens"): tokens,
    }
    app.add_admin_routes(routes)


def info(app: TotvsApp, request: Request) -> Answer:
    """What a harness needs to know to talk to the sandbox."""
    plant, school = app.plant, app.school
    first_professor = school.professors[0]["internalId"]
    return (
        200,
        {},
        {
            "prefixes": {"protheus": "/rest", "plant": "/plant/api", "rm": "/api"},
            "users": app.users,
            "tenants": {tenant: BRANCHES[code].name for tenant, code in TENANTS.items()},
            "tables": {
                t.alias: {code: len([r for r in t.rows if r[t.branch_field].strip() == code]) for code in BRANCHES}
                for t in (plant.sb1, plant.sc2, plant.sb8, plant.sd3)
            },
            "row_stamp": app.switches["protheus_row_stamp"],
            "academics": sorted({c["_academic"] for c in school.courses}),
            "professors": len(school.professors),
            "students": len(school.students),
            "sample": {
                "professor": first_professor,
                "discipline_class": school.classes[first_professor][0]["internalId"],
                "period": next(iter(school.disciplines)),
            },
            "seed": app.seed,
            "now": app.now().isoformat(),
        },
    )


def touch(app: TotvsApp, request: Request) -> Answer:
    """Change a Protheus row (optionally) and stamp it now."""
    body = object_body(request)
    table = app.plant.table(str(body.get("table") or "SB1"))
    branch = str(body.get("branch") or "01").split(",")[-1].strip()
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch '{branch}'; known: {', '.join(BRANCHES)}")
    changes = body.get("changes") or {}
    if not isinstance(changes, dict):
        raise ValueError('"changes" must be an object of field: value')
    deleted = body.get("deleted")
    if deleted is not None and not isinstance(deleted, bool):
        raise ValueError('"deleted" must be true or false')
    moment = _moment(body["at"]) if body.get("at") else app.now()
    stamped = table.alias in {t.upper() for t in app.switches["protheus_row_stamp"]}
    with table.lock:
        row = table.find(branch, body.get("key"))
        table.change(row, changes, moment, deleted)
        shown = render_row(row, table.column_names(stamped))
    return 200, {}, {"table": table.alias, "row": shown, "updated_at": stamp_text(row["_stamp"])}


def _moment(text: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def expire_tokens(app: TotvsApp, request: Request) -> Answer:
    body = object_body(request)
    flavour = body.get("flavour")
    if flavour is not None and flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {', '.join(FLAVOURS)}")
    refresh = bool(body.get("refresh", False))
    return 200, {}, {"expired": app.tokens.expire(flavour, refresh)}


def advance_clock(app: TotvsApp, request: Request) -> Answer:
    seconds = object_body(request).get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ValueError('advance-clock expects {"seconds": n}')
    return 200, {}, {"offset_seconds": app.tokens.advance(float(seconds))}


def tokens(app: TotvsApp, request: Request) -> Answer:
    return 200, {}, app.tokens.stats()


__all__ = ["add_admin_routes"]
