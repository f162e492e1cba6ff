"""The level a plugin logs at: `<PLUGIN>_LOGLEVEL`, then `LOGLEVEL`, the variables singer-sdk plugins read.

Ponte's plugins that skip singer-sdk for speed (target-postgres's plain load, the ingest-API targets) and the
loggers Ponte adds to SDK plugins read the same variables, so one line in `.env` sets a plugin's level
whichever code path runs. `TAP_SIENGE_LOG_LEVEL`, once documented by mistake, is not read: it is named in a
warning instead of being guessed at.
"""

from __future__ import annotations

import os

LEVELS = frozenset({"CRITICAL", "FATAL", "ERROR", "WARNING", "WARN", "INFO", "DEBUG"})


def plugin_log_level(plugin: str, default: str = "INFO") -> str:
    """The level `plugin` (e.g. `tap-sienge`) logs at."""
    level = (os.environ.get(f"{_prefix(plugin)}_LOGLEVEL") or os.environ.get("LOGLEVEL") or "").strip().upper()
    return level if level in LEVELS else default


def misnamed_level_warning(plugin: str) -> str | None:
    """One line for stderr when `<PLUGIN>_LOG_LEVEL` is set (nothing reads it), else None."""
    wrong, right = f"{_prefix(plugin)}_LOG_LEVEL", f"{_prefix(plugin)}_LOGLEVEL"
    if os.environ.get(wrong) and not os.environ.get(right):
        return f"{plugin}: {wrong} is not read; set {right}={os.environ[wrong]} (singer-sdk's name) instead"
    return None


def _prefix(plugin: str) -> str:
    return plugin.upper().replace("-", "_")
