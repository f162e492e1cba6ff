"""A root stream read once per value of a list setting (`for_each:`), e.g. every RM academic context.

RM's educational API answers courses, grids and periods per academic (`/Academics/1|1|1/Courses`) and lists no
academics, while students and professors come from every academic at once: reading one academic would leave
the others' students without their courses. The declaration names a list setting; the stream is read once per
value, the value is `{{ each.<field> }}` in its path and params, and it lands in the record field `<field>`,
so child streams read it as `{{ parent.<field> }}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ponte.core.errors import ConfigError
from ponte.core.setting_text import read_setting


def for_each_values(setting: Mapping[str, Any], config: Mapping[str, Any], tap_name: str, stream: str) -> list[str]:
    """The distinct values of a list setting (a list, or text holding a JSON list or comma-separated values).

    None at all: a ConfigError naming the stream, the setting, its variable and what it should hold (the
    setting's description), so nothing is skipped silently.
    """
    name = str(setting["name"])
    variable = re.sub(r"[^A-Za-z0-9]", "_", f"{tap_name}_{name}").upper()
    raw = read_setting("array", config.get(name), f"'{name}' ({variable})")
    if raw is not None and not isinstance(raw, list):
        raise ConfigError(f"{tap_name}: setting '{name}' ({variable}) must be a list, got {type(raw).__name__}")
    values = [str(v).strip() for v in raw or [] if v is not None and str(v).strip()]
    if not values:
        about = f" — {' '.join(str(setting['description']).split())}" if setting.get("description") else ""
        raise ConfigError(
            f"{tap_name}: stream '{stream}' is read once per value of setting '{name}' ({variable}), which lists "
            f"none: set it to a JSON list{about}"
        )
    return list(dict.fromkeys(values))


def parent_allowed(
    settings: list[tuple[str, Any]],
    parent_field: str,
    entry_field: str | None,
    account_field: str | None,
    context: Mapping[str, Any] | None,
) -> bool:
    """`only_parents:` whether a child stream is read for this parent record (its context).

    The entries of every named setting (a list or its JSON text) are joined; none at all: every parent. An entry is
    the parent field's value, or an object holding it in `entry_field` and, to limit it to one account, the account
    in the accounts field.
    """
    entries: list[Any] = []
    for name, value in settings:
        raw = read_setting("array", value, f"'{name}'")
        if raw is not None and not isinstance(raw, list):
            raise ConfigError(f"setting '{name}' must be a list, got {type(raw).__name__}")
        entries.extend(raw or [])
    if not entries:
        return True
    context = context or {}
    wanted = str(context.get(parent_field))
    for entry in entries:
        if isinstance(entry, Mapping):
            if account_field and entry.get(account_field) not in (None, context.get(account_field)):
                continue
            entry = entry.get(entry_field) if entry_field else None
        if entry is not None and str(entry) == wanted:
            return True
    return False
