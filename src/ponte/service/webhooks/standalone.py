"""A dry-run receiver: the webhook intake and processor alone, recording the runs the rules would start.

    python -m ponte.service.webhooks.standalone --dsn postgresql://... --record .ponte/webhook-runs.jsonl

Point a Bling app (or `ponte sandbox bling-webhooks`) at it to see what a burst of events would start before
letting `ponte serve` start it: each run is one JSON line (pipeline, select, the PONTE_WEBHOOK_* variables),
written and flushed to disk before its events are marked, and reported `succeeded`. The integration tests
kill it with SIGKILL mid-burst and start it again on the same database and file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from ponte.service.runs import RunStart
from ponte.service.webhooks import Processor, WebhookContext, routes

SHOWN_ENV = "PONTE_WEBHOOK_"  # what the record keeps of extra_env (TAP_BLING_ACCOUNTS holds secrets)


class RecordedRuns:
    """`start_run`, `run_status` and `find_run` over a JSON Lines file instead of real pipelines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):  # a line cut by a kill mid-write
                out.append(json.loads(line))
        return out

    async def start_run(self, start: RunStart) -> str:
        run_id = str(uuid.uuid4())
        line = {
            "run_id": run_id,
            "pipeline": list(start.pipeline),
            "trigger": start.trigger,
            "select": list(start.select),
            "env": {k: v for k, v in start.extra_env.items() if k.startswith(SHOWN_ENV)},
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return run_id

    async def run_status(self, run_id: str) -> str | None:
        return "succeeded"

    async def find_run(self, batch_id: str) -> str | None:
        return next((r["run_id"] for r in self.lines() if r["env"].get("PONTE_WEBHOOK_BATCH") == batch_id), None)


def build_app(ctx: WebhookContext) -> Starlette:
    """The intake's routes, with a processor started and stopped by the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        processor = Processor(ctx)
        await processor.start()
        try:
            yield
        finally:
            await processor.stop()

    return Starlette(routes=routes(ctx), lifespan=lifespan)


class ServerThread:
    """An ASGI app on uvicorn in a thread on a free loopback port (tests and bench/webhook_intake.py)."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        import threading

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="webhook-intake", daemon=True)

    def __enter__(self) -> ServerThread:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the webhook intake did not start (see the log above)")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m ponte.service.webhooks.standalone", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dsn", default=os.environ.get("PONTE_DB_DSN"), help="database of <schema>.webhook_events")
    parser.add_argument("--schema", default=os.environ.get("PONTE_DB_SCHEMA") or "ponte")
    parser.add_argument("--project", default=".", type=Path, help="project root (webhooks/bling.yml, .env)")
    parser.add_argument("--record", default=".ponte/webhook-runs.jsonl", type=Path, help="where runs are recorded")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=8781, type=int, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--poll-seconds", default=0.5, type=float)
    parser.add_argument("--lease-seconds", type=float, help="default: PONTE_WEBHOOK_LEASE_SECONDS or 120")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("--dsn or PONTE_DB_DSN is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runs = RecordedRuns(args.record)
    extra: dict[str, Any] = {"poll_seconds": args.poll_seconds}
    if args.lease_seconds:
        extra["lease_seconds"] = args.lease_seconds
    ctx = WebhookContext.from_env(args.dsn, args.project.resolve(), runs.start_run, schema=args.schema,
                                  run_status=runs.run_status, find_run=runs.find_run, **extra)  # fmt: skip
    config = uvicorn.Config(build_app(ctx), host=args.host, port=args.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if args.port_file and server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            args.port_file.write_text(str(port), encoding="utf-8")
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
