"""Send an entity whose endpoint is not idempotent (a TOTVS production appointment), exactly once.

Posted twice, such a record counts twice (the order's produced quantity, the stock). So each record is looked
up first (`find_existing`: a GET by a field the API keeps, e.g. the appointment's document) and only posted
when the API does not have it: that makes a re-run post nothing. The POST itself is never re-sent blindly:
when its answer is lost (connection dropped, timeout, 5xx), the server may have committed it, so the sender
waits, looks it up again, and posts only if it is still missing. A refusal the entity declares
(`record_errors.statuses`) is dead-lettered with the API's own words; the other records go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from ponte.core.errors import ApiError, UnansweredError
from ponte.declaration.records import dig
from ponte.declaration.templates import render
from ponte.http.client import parsed_body
from ponte.targets.api.record_errors import message_in
from ponte.targets.api.sending import Item, SendContext, post, record_path

REMOTE_ID = "_remote_id"  # where an item's context keeps the id the API gave it (history's remote_id_column)


class ExactlyOnceSender:
    """Look up, then post, one record at a time; a lost answer leads to another look-up, never a blind re-post."""

    def __init__(self, context: SendContext) -> None:
        self.context = context
        self.entity = context.entity
        assert self.entity.find_existing is not None
        self.find = self.entity.find_existing

    def send(self, batch: list[Item]) -> None:
        for item in batch:
            if self.context.stop.is_set():
                return
            self._one(item)

    def _one(self, item: Item) -> None:
        client = self.context.client_for(item)
        policy = client.settings.retry
        label = f"{self.entity.name} {self.entity.key_of(item.payload)!r}"
        lost = 0
        while True:
            existing = self._existing(item)
            if existing is not None:
                self._remember(item, dig(existing, self.find.id_field) if self.find.id_field else None)
                self.context.outcome.add(already=1)
                if self.context.found is not None:
                    self.context.found(item)
                return
            try:
                response = post(self.context, [item], label, resend=False)
            except UnansweredError as error:
                lost += 1
                if lost > policy.max_retries:
                    raise ApiError(f"{error} (no answer after {lost} tries; each was looked up before posting "
                                   "again, so nothing was posted twice). Run again later.") from None  # fmt: skip
                client.logger.warning("%s: no answer (%s); it may have been committed: looking it up before "
                                      "posting again", label, error)  # fmt: skip
                client.sleep(policy.backoff(lost))
                continue
            except ApiError as error:
                if error.status not in self.entity.record_errors.statuses:
                    raise
                self._refused(item, error)
                return
            body = parsed_body(response)
            self._remember(item, dig(body, self.entity.id_field) if self.entity.id_field else None)
            self.context.outcome.add(delivered=1)
            if self.context.sent is not None:
                self.context.sent([item])
            return

    def _existing(self, item: Item) -> Mapping[str, Any] | None:
        """The API's copy of this record, if it has one (every `match` field equal)."""
        payload = item.payload
        scope = {"record": {k: v for k, v in payload.items() if v is not None}}
        params = render(self.find.params, scope)
        request = requests.Request(
            "GET",
            self.context.target.url(record_path(self.find.path, payload)),
            params={k: v for k, v in params.items() if v not in (None, "")},
            headers={**self.entity.headers, "Accept": "application/json"},
        ).prepare()
        self.context.outcome.add(requests=1)
        body = parsed_body(self.context.client_for(item).send(request, label=f"{self.entity.name}: look-up"))
        rows = dig(body, self.find.items_field) if self.find.items_field else body
        for row in rows if isinstance(rows, list) else [rows] if isinstance(rows, dict) else []:
            if isinstance(row, Mapping) and all(
                _same(dig(row, mine), dig(payload, theirs)) for mine, theirs in self.find.match
            ):
                return row
        return None

    def _refused(self, item: Item, error: ApiError) -> None:
        fields = self.entity.record_errors.message_fields or ("message",)
        words = [text for path in fields if (text := message_in(error.body, [path]))]
        reason = " — ".join(dict.fromkeys(words)) or str(error)
        self.context.reject(self.entity, item, reason, {"status": error.status, "body": error.body},
                            context=f"the API refused it (HTTP {error.status})")  # fmt: skip

    @staticmethod
    def _remember(item: Item, remote_id: Any) -> None:
        if item.context is not None and remote_id is not None:
            item.context[REMOTE_ID] = remote_id


def _same(found: Any, sent: Any) -> bool:
    """Equal as the API may echo them back (numbers as numbers, text without padding)."""
    if isinstance(found, int | float) and isinstance(sent, int | float):
        return float(found) == float(sent)
    return str(found).strip() == str(sent).strip()
