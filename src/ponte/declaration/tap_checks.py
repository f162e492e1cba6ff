"""Checks of a tap declaration that JSON Schema cannot express (run after the schema passed).

Each check yields every problem it sees; validation reports the one that comes first in the file, so
fixing errors top to bottom always works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ponte.core.errors import SpecError
from ponte.declaration.locate import spec_error
from ponte.declaration.schema_errors import did_you_mean, short
from ponte.declaration.stream_defaults import effective_paginator
from ponte.declaration.tap_fields import check_fields
from ponte.declaration.template_checks import check_templates
from ponte.declaration.templates import references
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

SECRET_AUTH_KEYS = ("password", "token", "client_secret", "refresh_token", "value")
KIND_CHECKS: dict[str, tuple[str, Any]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "date": ("a date (YYYY-MM-DD)", lambda v: isinstance(v, str) and _parses(dt.date.fromisoformat, v)),
    "date_time": ("an ISO date-time", lambda v: isinstance(v, str) and _parses(dt.datetime.fromisoformat, v)),
    "array": ("a list", lambda v: isinstance(v, list)),
    "object": ("a mapping", lambda v: isinstance(v, dict)),
}


def check_tap(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> Iterator[SpecError]:
    """Every semantic problem of a schema-valid tap declaration."""
    yield from check_settings(data, loaded)
    yield from check_timezone(data, loaded)
    yield from check_templates(data, loaded)
    yield from check_auth_secrets(data, loaded)
    streams = data.get("streams") or []
    yield from _check_stream_names(streams, loaded)
    parents_ok = True
    for index, stream in enumerate(streams):
        path: KeyPath = ("streams", index)
        problems = list(_check_parent(streams, index, loaded))
        parents_ok = parents_ok and not problems
        yield from problems
        yield from _check_for_each(data, stream, path, loaded)
        yield from _check_paginator(data, stream, path, loaded)
    yield from check_fields(data, loaded, base_dir, check_parents=parents_ok)


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _duplicate_names(
    items: list[dict[str, Any]], section: str, message: str, loaded: LoadedYaml
) -> Iterator[SpecError]:
    """Each `name` in a list section must be unique; `message` is formatted with the name and first line."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        name = item["name"]
        if name in seen:
            line = (loaded.value_position((section, seen[name])) or ("?",))[0]
            yield spec_error(loaded, (section, index, "name"), message.format(name=name, line=line))
        seen.setdefault(name, index)


def check_settings(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    settings = data.get("settings") or []
    yield from _duplicate_names(settings, "settings", "setting '{name}' is already declared on line {line}", loaded)
    for index, setting in enumerate(settings):
        default = setting.get("default")
        if default is None or (isinstance(default, str) and "{{" in default):
            continue
        phrase, fits = KIND_CHECKS[setting["kind"]]
        where = ("settings", index, "default")
        if not fits(default):
            yield spec_error(
                loaded, where, f"default {short(default)} is not {phrase}, as kind {setting['kind']} needs"
            )
        elif "enum" in setting and default not in setting["enum"]:
            yield spec_error(loaded, where, f"default {short(default)} is not one of the setting's enum values")


def check_timezone(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    zone = data.get("timezone")
    if zone is None:
        return
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        yield spec_error(
            loaded, ("timezone",), f"unknown time zone {short(zone)}; use an IANA name like America/Sao_Paulo"
        )


def check_auth_secrets(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    """Credentials come from secret settings: a literal would be committed, a non-secret one not masked."""
    settings = {s["name"]: s for s in data.get("settings") or []}
    top = data.get("auth") or {}
    blocks = [(("auth",), top)]
    if top.get("type") == "select":
        blocks = [(("auth", "options", name), block) for name, block in (top.get("options") or {}).items()]
    for where, auth in blocks:
        yield from _check_auth_block_secrets(data, loaded, where, auth, settings)


def _check_auth_block_secrets(
    data: Mapping[str, Any], loaded: LoadedYaml, where: tuple[str, ...], auth: Mapping[str, Any], settings: dict
) -> Iterator[SpecError]:

    for key in SECRET_AUTH_KEYS:
        if key not in auth or (key == "value" and auth.get("type") != "api_key"):
            continue
        names = references(auth[key], "config")
        account_fields = references(auth[key], "account")
        secret_account_fields = set((data.get("accounts") or {}).get("secret_fields") or ["client_secret"])
        for name in sorted(account_fields - secret_account_fields):
            yield spec_error(
                loaded,
                (*where, key),
                f"account field '{name}' holds a credential: list it in accounts.secret_fields so it is masked",
            )
        if not names and not account_fields:
            yield spec_error(
                loaded,
                (*where, key),
                "a credential must not be written in the declaration; declare a setting with secret: true "
                "and write {{ config.<setting> }} here",
            )
        for name in sorted(names):
            if name in settings and not settings[name].get("secret"):
                yield spec_error(
                    loaded,
                    (*where, key),
                    f"setting '{name}' holds a credential: mark it secret: true so it is masked in logs",
                )


def _check_stream_names(streams: list[dict[str, Any]], loaded: LoadedYaml) -> Iterator[SpecError]:
    message = "stream name '{name}' is already used by the stream on line {line}"
    yield from _duplicate_names(streams, "streams", message, loaded)


def _check_parent(streams: list[dict[str, Any]], index: int, loaded: LoadedYaml) -> Iterator[SpecError]:
    """A parent exists and comes earlier (so no cycle is possible), and the child really uses it."""

    stream = streams[index]
    parent = stream.get("parent")
    if parent is None:
        return
    where = ("streams", index, "parent")
    earlier = [s["name"] for s in streams[:index]]
    later = {s["name"]: i for i, s in enumerate(streams) if i > index}
    if parent == stream["name"]:
        yield spec_error(loaded, where, "a stream cannot be its own parent")
    elif parent in later:
        line = (loaded.value_position(("streams", later[parent])) or ("?",))[0]
        yield spec_error(
            loaded, where, f"parent '{parent}' is declared after this stream (line {line}); declare the parent first"
        )
    elif parent not in earlier:
        names = [s["name"] for s in streams]
        yield spec_error(loaded, where, f"no stream named '{parent}'{did_you_mean(parent, names)}")
    elif not (references([stream["path"], stream.get("params") or {}], "parent") or stream.get("parent_keys")):
        yield spec_error(
            loaded,
            where,
            f"this child of '{parent}' never uses the parent record: put {{{{ parent.<field> }}}} in its path "
            "or params, or declare parent_keys",
        )


def _check_for_each(
    data: Mapping[str, Any], stream: Mapping[str, Any], path: KeyPath, loaded: LoadedYaml
) -> Iterator[SpecError]:
    """`for_each` names a list setting, sits on a root stream, and its value is used in the path or params."""

    each = stream.get("for_each")
    if not each:
        return
    settings = {s["name"]: s for s in data.get("settings") or []}
    setting = settings.get(each["setting"])
    if setting is None:
        names = list(settings)
        yield spec_error(
            loaded,
            (*path, "for_each", "setting"),
            f"no setting named '{each['setting']}'{did_you_mean(each['setting'], names)}",
        )
    elif setting["kind"] != "array":
        yield spec_error(
            loaded,
            (*path, "for_each", "setting"),
            f"setting '{each['setting']}' is kind {setting['kind']}; for_each needs kind array",
        )
    if stream.get("parent"):
        yield spec_error(
            loaded,
            (*path, "for_each"),
            "for_each only works on a root stream; a child stream reads the value from its parent's record as "
            f"{{{{ parent.{each['field']} }}}}",
        )
    elif each["field"] not in references([stream["path"], stream.get("params") or {}], "each"):
        yield spec_error(
            loaded,
            (*path, "for_each"),
            f"this stream never uses its for_each value: put {{{{ each.{each['field']} }}}} in its path or params",
        )


def _check_paginator(
    data: Mapping[str, Any], stream: Mapping[str, Any], path: KeyPath, loaded: LoadedYaml
) -> Iterator[SpecError]:
    """Paging settings that would silently misbehave once merged with the defaults."""
    paginator = effective_paginator(data, stream)
    where = (*path, "paginator") if "paginator" in stream else ("defaults", "paginator")
    kind = paginator.get("type")
    sent: dict[str, str] = {}
    if kind == "offset":
        if paginator.get("inserts_at") == "head" and not paginator.get("total_field"):
            yield spec_error(
                loaded,
                (*where, "inserts_at"),
                "inserts_at: head needs total_field (the list's total count) to notice rows inserted while paging",
            )
        sent = {
            paginator.get("limit_param", "limit"): "paginator limit_param",
            paginator.get("offset_param", "offset"): "paginator offset_param",
        }
        if len(sent) < 2:
            yield spec_error(loaded, where, "limit_param and offset_param must be different query parameters")
    elif kind == "page":
        sent = {
            paginator.get("page_param", "page"): "paginator page_param",
            paginator.get("size_param", "pageSize"): "paginator size_param",
        }
        if len(sent) < 2:
            yield spec_error(loaded, where, "page_param and size_param must be different query parameters")
    replication = stream.get("replication") or {}
    for key in ("request_param", "request_end_param"):
        if replication.get(key):
            if replication[key] in sent:
                yield spec_error(
                    loaded,
                    (*path, "replication", key),
                    f"'{replication[key]}' is already sent by the {sent[replication[key]]}",
                )
            sent.setdefault(replication[key], f"replication {key}")
    own = stream.get("params") or {}
    inherited = (data.get("defaults") or {}).get("params") or {}
    for name in {**inherited, **own}:
        if name in sent:
            yield spec_error(
                loaded,
                (*path, "params", name) if name in own else ("defaults", "params", name),
                f"'{name}' is also sent by the {sent[name]}, whose value wins; remove it here",
                at_key=True,
            )
