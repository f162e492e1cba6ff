"""singer-sdk's "An unhandled error occurred while syncing …" ERROR line, kept for real bugs only.

The SDK logs that line for every exception that leaves a stream's sync, then re-raises it. Ponte's expected
failures (`PonteError`: refused credentials, a spent daily quota, a bad setting) end in the tap's lifecycle
with one clear sentence and their exit code (0 for a clean quota stop); an ERROR line just before it reads
like a crash. For those the line is demoted to DEBUG; anything else (a bug) keeps it at ERROR.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from ponte.core.errors import PonteError

SDK_UNHANDLED_ERROR = "An unhandled error occurred while syncing"


class QuietExpectedErrors:
    """Mixed into a singer-sdk Stream class (before the SDK's base) to route its `log` calls."""

    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        """The SDK's `Stream.log`, with its unhandled-error line demoted to DEBUG for expected errors."""
        # the SDK logs the line inside its `except Exception:` block, so the exception at hand is the one raised
        expected = isinstance(sys.exc_info()[1], PonteError)
        if expected and level >= logging.ERROR and message.startswith(SDK_UNHANDLED_ERROR):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)  # type: ignore[misc]
