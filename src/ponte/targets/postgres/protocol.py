"""Singer protocol errors, raised as singer-sdk's own exception classes.

The classes are imported only when an error is raised: the load path never imports singer-sdk (whose import
alone costs about a second per run), yet a tap that breaks the protocol sees exactly the exceptions every
singer-sdk target raises (and the SDK's standard target tests expect).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def invalid_line(message: str) -> Exception:
    """A line that is not a valid Singer message."""
    from singer_sdk.singerlib.exceptions import InvalidInputLine

    return InvalidInputLine(message)


def missing_key(message: str) -> Exception:
    """A RECORD without one of its stream's key properties."""
    from singer_sdk.exceptions import MissingKeyPropertiesError

    return MissingKeyPropertiesError(message)


def record_before_schema(stream: str) -> Exception:
    """A RECORD for a stream whose SCHEMA has not been seen."""
    from singer_sdk.exceptions import RecordsWithoutSchemaException

    return RecordsWithoutSchemaException(
        f"A record for stream '{stream}' was encountered before a corresponding schema. "
        "Check that the Tap correctly implements the Singer spec."
    )


def require(message: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Raise InvalidInputLine when a message lacks required keys (the SDK's `assert_line_requires`)."""
    missing = [key for key in keys if key not in message]
    if missing:
        raise invalid_line(f"Line is missing required {', '.join(missing)} key(s): {str(message)[:500]}")
