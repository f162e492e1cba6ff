"""Send an entity whose endpoint answers at once (ProExtend's `.../sync`), isolating the records it refuses.

A 422 must not sink its batch: the records it names are dead-lettered with the API's words and the rest is
sent again; when it names none, the batch is split in halves until each bad record is alone. A 2xx that
names refused records (partial success) dead-letters just those.
"""

from __future__ import annotations

from typing import Any

from ponte.core.errors import ApiError
from ponte.declaration.records import dig
from ponte.http.client import parsed_body
from ponte.targets.api.record_errors import field_errors_of, message_in, named_failures, sentence
from ponte.targets.api.sending import Item, SendContext, post


class SyncSender:
    """Sends batches of one synchronous entity."""

    def __init__(self, context: SendContext) -> None:
        self.context = context
        self.rules = context.entity.record_errors

    def send(self, batch: list[Item]) -> None:
        entity, outcome = self.context.entity, self.context.outcome
        if self.context.stop.is_set():
            return
        try:
            response = post(self.context, batch, f"{entity.name}: {len(batch)} record(s)")
        except ApiError as error:
            if error.status not in self.rules.statuses:
                raise
            self._refused(batch, error)
            return
        body = parsed_body(response)
        named, _ = named_failures(body, self.rules.partial_field, self.rules, len(batch))
        for index, fields in sorted(named.items()):
            self._reject(batch[index], fields, {"status": response.status_code, "errors": fields})
        if self.context.sent is not None:
            self.context.sent([item for index, item in enumerate(batch) if index not in named])
        counts = {name: dig(body, path) for name, path in entity.result.items() if name in ("created", "updated")}
        outcome.add(delivered=len(batch) - len(named), **{k: v for k, v in counts.items() if isinstance(v, int)})

    def _refused(self, batch: list[Item], error: ApiError) -> None:
        named, _ = named_failures(error.body, self.rules.errors_field, self.rules, len(batch))
        message = dig(error.body, "message") if isinstance(error.body, dict) else None
        if named:
            for index, fields in sorted(named.items()):
                self._reject(batch[index], fields, {"status": error.status, "message": message, "errors": fields})
            rest = [item for index, item in enumerate(batch) if index not in named]
            if rest:
                self.send(rest)
            return
        if self.rules.unnamed == "split" and len(batch) > 1:
            middle = len(batch) // 2
            self.send(batch[:middle])
            self.send(batch[middle:])
            return
        fields = field_errors_of(error.body, self.rules.errors_field) or {"": [str(message or error)]}
        if self.rules.message_fields:  # the API's own words, all of them (TOTVS: message — detailedMessage)
            words = [text for path in self.rules.message_fields if (text := message_in(error.body, [path]))]
            fields = {"": [" — ".join(dict.fromkeys(words))]} if words else fields
        for item in batch:
            self._reject(item, fields, {"status": error.status, "message": message, "errors": fields})

    def _reject(self, item: Item, fields: dict[str, list[str]], api_response: Any) -> None:
        status = api_response.get("status")
        self.context.reject(
            self.context.entity, item, sentence(fields), api_response, context=f"the API refused it (HTTP {status})"
        )
