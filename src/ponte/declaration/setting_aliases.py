"""Old setting names (`aliases:` of a declared setting) keep working for one release, with a warning.

The rate settings were named per plugin (`requests_per_window`, `requests_per_second`, `requests_per_minute`,
`rate_window_seconds`); every plugin now has `rate_limit_requests` / `rate_limit_seconds`. A user's config or
environment may still use an old name: its value is read under the new name and a warning names the new
setting and its variable. Meltano reads the old names too (`aliases:` in meltano.yml), and passes the
environment through, so a `.env` still using an old variable is reported from inside a `meltano run`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ponte.core.setting_text import read_setting
from ponte.declaration.vocabulary import REMOVED_IN

LOGGER = logging.getLogger("ponte.deprecation")


def apply_aliases(
    plugin: str,
    settings: list[dict[str, Any]],
    config: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    logger: logging.Logger = LOGGER,
) -> dict[str, Any]:
    """`config` with each value given under an old name moved to its setting's name (warned about once each).

    A value under the new name wins over one under an old name (the old one is then ignored, with a warning),
    unless it is the setting's default: singer-sdk fills declared defaults into a tap's config before the tap
    sees it, so a default under the new name says nothing about what the user chose.
    """
    environ = os.environ if environ is None else environ
    prefix = plugin.upper().replace("-", "_") + "_"
    result = dict(config)
    for setting in settings:
        name = setting["name"]
        for alias in setting.get("aliases") or ():
            given, where = result.pop(alias, None), f"setting {alias}"
            if given in (None, ""):
                given, where = environ.get(prefix + alias.upper()), prefix + alias.upper()
            if given in (None, ""):
                continue
            new = f"{name} ({prefix}{name.upper()})"
            current, default = result.get(name), setting.get("default")
            unset = current in (None, "") or (default is not None and str(current) == str(default))
            if unset or str(current) == str(given):  # the same value: Meltano already read the alias
                result[name] = read_setting(setting.get("kind", "string"), given, name)
                logger.warning("%s: %s is deprecated and works until ponte %s: use %s", plugin, where, REMOVED_IN, new)
            else:
                logger.warning("%s: %s is deprecated and ignored, since %s is set", plugin, where, new)
    return result
