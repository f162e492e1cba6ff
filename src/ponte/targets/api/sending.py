"""What both senders share: the item they carry, how they refuse one, how they post a batch, how they fan out."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import orjson
import requests

from ponte.core.errors import ConfigError
from ponte.declaration.templates import render
from ponte.http import HttpClient
from ponte.targets.api.definition import EntityDef, TargetDef
from ponte.targets.api.outcome import Outcome


@dataclass(frozen=True)
class Item:
    """One prepared payload and the Singer stream it came from."""

    stream: str
    payload: dict[str, Any]
    key: Any = None
    account: str | None = None  # the account it goes to (targets with `accounts:`)
    context: dict[str, Any] | None = None  # history columns and skip reason, read from the record as it came


class Reject(Protocol):
    """Dead-letter one item: why (the API's own words when it gave some), its answer, and how we learned it."""

    def __call__(
        self, entity: EntityDef, item: Item, reason: str, api_response: Any = None, *, context: str = ""
    ) -> None: ...


@dataclass
class SendContext:
    """Everything a sender needs besides its batches."""

    client: HttpClient
    target: TargetDef
    entity: EntityDef
    outcome: Outcome
    reject: Reject
    stop: threading.Event
    clients: Mapping[str, HttpClient] | None = None  # one per account, when the target declares `accounts:`
    sent: Callable[[list[Item]], None] | None = None  # told which items the API accepted (history)
    found: Callable[[Item], None] | None = None  # told which items the API already had (find_existing)

    def client_for(self, item: Item) -> HttpClient:
        """The account's client (every item of a batch goes to one account), else the only client."""
        if self.clients and item.account is not None:
            try:
                return self.clients[item.account]
            except KeyError:
                raise ConfigError(f"{self.target.plugin}: record for account '{item.account}', which is not in the "
                                  f"configured accounts ({', '.join(self.clients)})") from None  # fmt: skip
        return self.client


def record_path(path: str, payload: dict[str, Any]) -> str:
    """A path naming the record's fields (`/ordens-producao/{{ record.ordemProducao }}/apontamentos`), URL-quoted."""
    if "{{" not in path:
        return path
    return str(render(path, {"record": {k: quote(str(v), safe="") for k, v in payload.items() if v is not None}}))


def post(context: SendContext, batch: list[Item], label: str, *, resend: bool = True) -> requests.Response:
    """Send one batch (wrapped as the entity declares); the client retries transient failures and 429s
    (`resend=False`: not after the request may have reached the server, see HttpClient.send)."""
    entity = context.entity
    records = [item.payload for item in batch]
    body: Any = {entity.wrapper: records} if entity.wrapper else records
    if entity.single and len(records) == 1:  # the endpoint takes one object, not a list (Bling's POST /estoques)
        body = records[0]
    request = requests.Request(
        entity.method,
        context.target.url(record_path(entity.path, records[0])),
        data=orjson.dumps(body),
        headers={**entity.headers, "Content-Type": "application/json", "Accept": "application/json"},
    ).prepare()
    context.outcome.add(requests=1)
    return context.client_for(batch[0]).send(request, label=label, resend=resend)


def batches(items: Iterable[Item], entity: EntityDef, count: int) -> Iterator[list[Item]]:
    """Batches of at most batch_size; balanced over the parallel slots so no slot ends long after the others.

    5,000 records at 500 per batch and 3 in flight make 10 batches, the last round with one job alone; balanced,
    they make 12 batches of 417 and every round keeps the three slots busy.
    """
    size = entity.batch_size
    if entity.balance_batches and entity.parallel > 1 and count > size:
        rounds = math.ceil(math.ceil(count / size) / entity.parallel)
        size = math.ceil(count / (rounds * entity.parallel))
    batch: list[Item] = []
    for item in items:
        if batch and item.account != batch[-1].account:  # a request carries one account's token
            yield batch
            batch = []
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def in_flight(
    chunks: Iterable[list[Item]], parallel: int, send: Callable[[list[Item]], None], stop: threading.Event
) -> None:
    """Run `send` over the batches with at most `parallel` at once; the first failure stops the rest."""
    if parallel <= 1:
        for chunk in chunks:
            send(chunk)
        return
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ponte-send") as pool:
        pending: set[Future[None]] = set()
        try:
            for chunk in chunks:
                if len(pending) >= parallel:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                pending.add(pool.submit(send, chunk))
            for future in pending:
                future.result()
        except BaseException:
            stop.set()
            for future in pending:
                future.cancel()
            raise


def per_account(
    items: Iterable[Item], entity: EntityDef, send: Callable[[list[Item]], None], stop: threading.Event
) -> None:
    """Send each account's records in a lane of its own, all lanes at once (`in_flight` inside each).

    Every account has its own token and rate budget (Bling: 3 req/s each), so one account's postings never wait
    behind another's. The first failure stops the other lanes, as in `in_flight`.
    """
    lanes: dict[str | None, list[Item]] = {}
    for item in items:
        lanes.setdefault(item.account, []).append(item)
    if len(lanes) <= 1:
        for lane in lanes.values():
            in_flight(batches(lane, entity, len(lane)), entity.parallel, send, stop)
        return
    with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="ponte-account") as pool:
        futures = [
            pool.submit(in_flight, batches(lane, entity, len(lane)), entity.parallel, send, stop)
            for lane in lanes.values()
        ]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise
