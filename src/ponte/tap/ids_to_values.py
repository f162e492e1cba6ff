"""Settings filled from ids at the start of a run (`settings[].add_from_ids`): a webhook names products by their
id in one account, while the run filters every account by another field (Bling's `codigo`, the SKU). One list
request per account and 100 ids turns the ids into those values, which are added to the setting before any
stream reads, through the same client, token and budget as the streams.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import requests

from ponte.core.errors import ConfigError
from ponte.declaration.records import dig, select_records
from ponte.declaration.templates import render
from ponte.http.client import parsed_body
from ponte.tap.fanout import batched
from ponte.tap.runtime import TapRuntime

NOTHING = "\x00none"  # ids that resolve to no value: the run must read nothing, not everything


def ids_by_account(raw: Any, setting: str) -> dict[str | None, list[str]]:
    """`{"loja1": [1, 2]}` (a JSON text too; a plain list means the tap's only account) → account → ids."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigError(f'{setting} must be JSON like {{"loja1": [123]}}, got {raw[:40]!r}') from None
    if isinstance(raw, list):
        raw = {None: raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{setting} must be an object of account → ids, got {type(raw).__name__}")
    return {account: [str(i) for i in ids if str(i).strip()] for account, ids in raw.items() if ids}


def add_values_from_ids(runtime: TapRuntime, logger: logging.Logger) -> None:
    """For each setting declaring `add_from_ids` whose ids setting is set: look the ids up, add the values."""
    selector = (runtime.spec.get("defaults") or {}).get("record_selector")  # the streams' default
    for setting in runtime.spec.get("settings", []):
        spec = setting.get("add_from_ids")
        if not spec or not runtime.config.get(spec["setting"]):
            continue
        found: list[str] = [str(v) for v in runtime.config.get(setting["name"]) or []]
        for account, ids in ids_by_account(runtime.config[spec["setting"]], spec["setting"]).items():
            if account is not None and runtime.clients and account not in runtime.clients:
                logger.warning("%s: account '%s' of %s is not configured; its ids are ignored", runtime.name,
                               account, spec["setting"])  # fmt: skip
                continue
            client = runtime.client_for(account)
            for batch in batched(ids, int(spec.get("batch_size", 100))):
                params = {**render(dict(spec.get("params") or {}), runtime.scope(account)), spec["param"]: batch}
                request = requests.Request("GET", runtime.url(spec["path"]), params=params)
                body = parsed_body(client.send(client.session.prepare_request(request), label=runtime.name))
                for record in select_records(body, spec.get("record_selector", selector)):
                    value = dig(record, spec["field"])
                    if value not in (None, "") and str(value) not in found:
                        found.append(str(value))
        runtime.config[setting["name"]] = found or [NOTHING]
        logger.info("%s: %s from %s: %s", runtime.name, setting["name"], spec["setting"], ", ".join(found) or "none")
