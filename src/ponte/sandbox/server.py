"""The reusable core of every sandbox: requests, responses, a regex router and an app with admin endpoints.

A sandbox app (Sienge today; Bling, TOTVS, ... later) subclasses `SandboxApp`, declares its extra switches
and answers `serve(request)`. The base class puts the shared machinery around it: the rate gate and injected
faults (`gates.py`), the request log that tests assert on, runtime configuration and counters under
`/_sandbox/...`. The HTTP layer lives in `http_layer.py`; `run_in_thread` is re-exported here.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from ponte.sandbox.gates import Admission, Faults, Outage, RateGate, truncate_json
from ponte.sandbox.http_layer import RunningSandbox, run_in_thread, serve_until_signal
from ponte.sandbox.switches import COMMON_SWITCHES, Switch, SwitchError, Switches

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass(slots=True)
class Request:
    """One parsed request; `query` keeps the last value of repeated parameters, `query_all` keeps all.

    `client` is the peer address; `context` is scratch space an app fills while answering (e.g. which account
    a token belongs to), read back by its `log_fields` hook.
    """

    method: str
    path: str
    query: dict[str, str]
    query_all: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    client: str = ""
    context: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON (an empty body is an empty object)."""
        return orjson.loads(self.body) if self.body.strip() else {}


@dataclass(slots=True)
class Response:
    """What a handler answers. A body that is not bytes/str is serialised with orjson."""

    status: int
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    drop: bool = False
    fault: str | None = None

    def encode(self) -> tuple[bytes, str]:
        """(body bytes, content type)."""
        if isinstance(self.body, bytes):
            return self.body, self.content_type or JSON_TYPE
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/html;charset=UTF-8"
        return orjson.dumps(self.body), self.content_type or JSON_TYPE


Handler = Callable[[Request], "Response | tuple[int, dict[str, str], Any]"]


def object_body(request: Request) -> dict[str, Any]:
    """An admin request's JSON object body; anything else is a ValueError (the admin router's 400)."""
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expects a JSON object")
    return body


def as_response(result: Response | tuple[int, dict[str, str], Any]) -> Response:
    """Accept the short form `(status, headers, body)` from handlers."""
    if isinstance(result, Response):
        return result
    status, headers, body = result
    return Response(status, body, dict(headers or {}))


class Router:
    """Method + full-path regex -> handler; named groups become `request.params`."""

    flags = re.NOFLAG

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a handler; patterns are anchored at both ends."""
        self._routes.append((method.upper(), re.compile(f"^{pattern}$", self.flags), handler))

    def knows(self, path: str) -> bool:
        """Whether some route (any method) matches the path."""
        return any(pattern.match(path) for _, pattern, _ in self._routes)

    def params(self, found: re.Match[str]) -> dict[str, str]:
        """The named groups of a matched path, as the handler gets them."""
        return found.groupdict()

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """(handler, params, path_exists): path_exists without handler means 'wrong method'."""
        path_exists = False
        for route_method, pattern, handler in self._routes:
            found = pattern.match(path)
            if found:
                if route_method == method:
                    return handler, self.params(found), True
                path_exists = True
        return None, {}, path_exists


class SandboxApp:
    """Base of a sandbox API. Subclasses set `name`, `extra_switches` and implement `serve`."""

    name = "sandbox"
    base_path = ""
    extra_switches: tuple[Switch, ...] = ()
    real_clock_zone: dt.tzinfo | None = None  # set: an empty `now` switch means the real clock in this zone
    real_clock_microseconds = False  # whether that real clock keeps microseconds (row stamps) or whole seconds

    def __init__(self, seed: int = 42, switches: Mapping[str, Any] | None = None) -> None:
        self.seed = seed
        self.switches = Switches(COMMON_SWITCHES + self.extra_switches)
        self.gate = RateGate(self.switches)
        self.faults = Faults(self.switches, seed)
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=self.switches["log_max"])
        self._stats: Counter[str] = Counter()
        self._first_at: str | None = None
        self._last_at: str | None = None
        self.outage = Outage()
        self.admin = Router()
        self.admin.add("GET", "/_sandbox/health", lambda r: (200, {}, {"status": "ok", "app": self.name}))
        self.admin.add("GET", "/_sandbox/requests", lambda r: (200, {}, self.requests()))
        self.admin.add("POST", "/_sandbox/reset-log", lambda r: (200, {}, self.reset_log()))
        self.admin.add("POST", "/_sandbox/reset-limits", lambda r: (200, {}, self.reset_limits()))
        self.admin.add("GET", "/_sandbox/config", lambda r: (200, {}, self.switches.snapshot()))
        self.admin.add("POST", "/_sandbox/config", lambda r: (200, {}, self.configure(**r.json())))
        self.admin.add("GET", "/_sandbox/stats", lambda r: (200, {}, self.stats()))
        if switches:
            self.configure(**switches)

    def add_admin_routes(self, routes: Mapping[tuple[str, str], Callable[..., Any]]) -> None:
        """Register `{(method, name): handler(app, request)}` as `/_sandbox/<name of the app>/<name>`."""
        for (method, name), handler in routes.items():
            self.admin.add(method, f"/_sandbox/{self.name}/{name}", functools.partial(handler, self))

    # --- hooks for subclasses -----------------------------------------------------------------------------
    def in_scope(self, path: str) -> bool:
        """Whether a request reaches the gateway (rate limit, faults); paths outside get plain 404s."""
        return True

    def serve(self, request: Request) -> Response:
        """Answer one API request."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The API's error object, used for injected failures and internal errors."""
        return {"status": status, "message": message}

    def close(self) -> None:
        """Stop background work (threads the app started); called when its server stops."""

    def on_configure(self, changes: Mapping[str, Any]) -> None:
        """React to changed switches (reset scenario counters, ...)."""

    def admit(self, request: Request) -> Admission | None:
        """The rate gate's verdict for an in-scope request (None: not rate limited). Default: one shared gate."""
        today, to_midnight = self._day()
        return self.gate.admit(today, to_midnight)

    def refuse(self, request: Request, admission: Admission) -> Response:
        """The answer to a request the gate refused (Kong's body by default)."""
        return Response(429, {"message": "API rate limit exceeded"}, dict(admission.headers))

    def faults_apply(self, request: Request) -> bool:
        """Whether injected faults (latency, drops, failures, bad JSON) may hit this request."""
        return True

    def log_fields(self, request: Request, response: Response) -> dict[str, Any]:
        """Extra (or replaced) fields of the request log entry; must never hold secrets in clear."""
        return {}

    # --- clock --------------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """The sandbox clock: the `now` switch, frozen, so data and quotas are reproducible; with
        `real_clock_zone` set and the switch empty, the real clock in that zone."""
        text = self.switches["now"]
        if text or self.real_clock_zone is None:
            return _parse_now(text)
        moment = dt.datetime.now(self.real_clock_zone)
        return moment if self.real_clock_microseconds else moment.replace(microsecond=0)

    def _day(self) -> tuple[str, float]:
        now = self.now()
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), now.tzinfo)
        return now.date().isoformat(), (midnight - now).total_seconds()

    # --- in-process helpers (RunningSandbox delegates here) -----------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change switches at runtime; returns the whole configuration."""
        applied = self.switches.update(changes)
        if "outage_seconds" in applied or "outage_after" in applied:
            self.outage.arm(self.switches["outage_seconds"], self.switches["outage_after"])
        if "log_max" in applied:
            with self._lock:
                self._log = deque(self._log, maxlen=max(1, applied["log_max"]))
        self.on_configure(applied)
        return self.switches.snapshot()

    def requests(self) -> list[dict[str, Any]]:
        """The request log, oldest first (admin requests are not logged)."""
        with self._lock:
            return list(self._log)

    def reset_log(self) -> dict[str, Any]:
        """Clear the request log and the counters of `stats()` (not the rate windows)."""
        with self._lock:
            self._log.clear()
            self._stats.clear()
            self._first_at = self._last_at = None
        return {"status": "ok"}

    def reset_limits(self) -> dict[str, Any]:
        """Forget the rate window and the day's quota usage."""
        self.gate.reset()
        return {"status": "ok"}

    def stats(self) -> dict[str, Any]:
        """Counters since start (or the last reset-log): requests, 429s served, faults, by status."""
        with self._lock:
            counts = dict(self._stats)
            first, last = self._first_at, self._last_at
        by_status = {k[7:]: v for k, v in counts.items() if k.startswith("status:")}
        return {
            "requests": counts.get("requests", 0),
            "rate_limited": counts.get("rate_limited", 0),
            "failed": counts.get("fail", 0),
            "dropped": counts.get("drop", 0),
            "bad_json": counts.get("bad_json", 0),
            "by_status": by_status,
            "first_request_at": first,
            "last_request_at": last,
            "quota_used_today": self.gate.day_usage(),
            "outage": counts.get("outage", 0),
            "outage_left_seconds": self.outage.left(),
        }

    # --- the request pipeline -----------------------------------------------------------------------------
    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"", client: str = ""
    ) -> Response:
        """Admin requests go straight to their handler; API requests pass the gates, then `serve`."""
        path, _, query_string = target.partition("?")
        query_all = parse_qs(query_string, keep_blank_values=True)
        query = {k: v[-1] for k, v in query_all.items()}
        request = Request(method, path, query, query_all, headers, body, client=client)
        if path.startswith("/_sandbox/"):
            return self._call(self.admin, request)
        response = self._through_gates(request)
        self._record(request, response)
        return response

    def _through_gates(self, request: Request) -> Response:
        if not self.in_scope(request.path):
            return self._serve_safely(request)
        if self.outage.hits():
            return Response(503, self.error_body(503, "Service unavailable (sandbox outage)"), fault="outage")
        admission = self.admit(request)
        if admission is not None and not admission.allowed:
            response = self.refuse(request, admission)
            response.fault = admission.reason
            if self.switches["retry_after_header"] and admission.retry_after is not None:
                response.headers["Retry-After"] = str(admission.retry_after)
            return response
        faulty = self.faults_apply(request)
        if faulty:
            self.faults.latency()
            if self.faults.fires("drop_next", "drop_rate"):
                return Response(0, drop=True, fault="drop")
        if faulty and self.faults.fires("fail_next", "fail_rate"):
            status = self.switches["fail_status"]
            response = Response(status, self.error_body(status, "Service temporarily unavailable"), fault="fail")
        else:
            response = self._serve_safely(request)
        if faulty and response.status == 200:
            body, content_type = response.encode()
            if content_type.startswith("application/json") and self.faults.fires("bad_json_next", "bad_json_rate"):
                response.body, response.content_type, response.fault = truncate_json(body), content_type, "bad_json"
        if admission is not None and self.switches["rate_headers"]:
            response.headers = {**admission.headers, **response.headers}
        return response

    def _serve_safely(self, request: Request) -> Response:
        try:
            return self.serve(request)
        except Exception as exc:  # a sandbox bug must show up as a 500, not a dropped connection
            return Response(500, self.error_body(500, f"sandbox error: {exc!r}"), fault="error")

    def _call(self, router: Router, request: Request) -> Response:
        handler, params, exists = router.match(request.method, request.path)
        if handler is None:
            status = 405 if exists else 404
            return Response(status, {"message": f"{request.method} {request.path}: no such sandbox endpoint"})
        request.params = params
        try:
            return as_response(handler(request))
        except (SwitchError, ValueError, TypeError, KeyError) as exc:
            return Response(400, {"message": str(exc)})

    def _record(self, request: Request, response: Response) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        entry = {
            "method": request.method,
            "path": request.path,
            "query": {k: v if len(v) > 1 else v[0] for k, v in request.query_all.items()},
            "headers": {k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            "status": None if response.drop else response.status,
            "fault": response.fault,
            "timestamp": stamp,
        }
        entry.update(self.log_fields(request, response))
        with self._lock:
            self._log.append(entry)
            self._stats["requests"] += 1
            self._stats[f"status:{entry['status']}"] += 1
            if response.fault:
                key = "rate_limited" if response.fault in ("rate_limit", "daily_quota") else response.fault
                self._stats[key] += 1
            self._first_at = self._first_at or stamp
            self._last_at = stamp


_NOW_CACHE: dict[str, dt.datetime] = {}


def _parse_now(text: str) -> dt.datetime:
    """Parse the clock switch once; a value without offset is taken as Brasília time (-03:00)."""
    cached = _NOW_CACHE.get(text)
    if cached is None:
        cached = dt.datetime.fromisoformat(text)
        if cached.tzinfo is None:
            cached = cached.replace(tzinfo=dt.timezone(dt.timedelta(hours=-3)))
        _NOW_CACHE[text] = cached
    return cached


__all__ = [
    "Request",
    "Response",
    "Router",
    "RunningSandbox",
    "SandboxApp",
    "as_response",
    "object_body",
    "run_in_thread",
    "serve_until_signal",
]
