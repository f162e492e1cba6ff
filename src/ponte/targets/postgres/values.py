"""Turning JSON values into what COPY's text format expects for each column kind.

Two paths. The fast one converts only what psycopg cannot send as is (objects and arrays to JSON text,
non-strings into text columns) and lets the server parse the rest; it is used until a batch fails.
The strict one checks and normalises every value in Python and names the field it rejects; it is used to
replay a failed batch so that one bad record goes to the dead-letter table instead of failing the load.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from ponte.targets.postgres.column_types import Kind

_encoder = msgspec.json.Encoder(decimal_format="number")
_decode = msgspec.json.Decoder(float_hook=Decimal).decode


def decode_json(document: bytes | str) -> Any:
    """Parse a JSON document; numbers with a fraction become Decimal so nothing is rounded on the way.

    msgspec refuses strings holding lone UTF-16 surrogates (`"\\ud800"`), which Python taps can emit;
    the standard library accepts them, so such a record still arrives and is rejected on its own later.
    """
    try:
        return _decode(document)
    except msgspec.DecodeError:
        try:
            return json.loads(document, parse_float=Decimal)
        except ValueError:
            pass
        raise


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


class ConversionError(ValueError):
    """A value that cannot be stored in its column; the message says which value and which type."""


def encode_json(value: Any) -> bytes:
    """JSON bytes with Decimals written as numbers (msgspec would otherwise quote them)."""
    return _encoder.encode(value)


def to_json_text(value: Any) -> str:
    """Any JSON value as jsonb input text."""
    return _encoder.encode(value).decode("utf-8")


UNENCODABLE = (UnicodeEncodeError, msgspec.EncodeError, RecursionError)
"""What encoding a decoded value can raise: a lone UTF-16 surrogate (valid JSON, not valid Unicode text), or
nesting deeper than the encoder goes."""


def encode_json_any(value: Any) -> bytes:
    """`encode_json`, also for strings holding lone surrogates, which msgspec will not write.

    They are written as `\\ud800` escapes (which `decode_json` reads back), so a record holding one can
    still be spilled for replay and then be rejected on its own instead of stopping the load.
    """
    try:
        return _encoder.encode(value)
    except (UnicodeEncodeError, msgspec.EncodeError):
        pass
    token = uuid.uuid4().hex  # marks Decimals, which the standard library would otherwise quote or round

    def exact(unknown: Any) -> Any:
        if isinstance(unknown, Decimal):
            return f"{token}{unknown}{token}"
        return _decode(_encoder.encode(unknown))  # e.g. a datetime from a stream map: as msgspec writes it

    text = json.dumps(value, default=exact, separators=(",", ":"))
    return re.sub(f'"{token}([^"]*){token}"', r"\1", text).encode("ascii")


def encode_json_lenient(value: Any) -> bytes:
    """JSON bytes even for strings PostgreSQL and UTF-8 refuse (lone surrogates become '?'): for dead letters."""
    try:
        return _encoder.encode(value)
    except (UnicodeEncodeError, msgspec.EncodeError):
        return _encoder.encode(_replace_unencodable(value))


def _replace_unencodable(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value.encode("utf-8", "replace").decode("utf-8")
    if kind is dict:
        return {_replace_unencodable(k): _replace_unencodable(v) for k, v in value.items()}
    if kind is list:
        return [_replace_unencodable(v) for v in value]
    return value


def to_text(value: Any) -> str:
    """A value for a text column: strings as they are, booleans as true/false, containers as JSON."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is dict or kind is list:
        return to_json_text(value)
    return str(value)


def strip_nul(value: Any, merged: list[str] | None = None) -> Any:
    """Remove NUL characters, which PostgreSQL cannot store in text or jsonb, from strings at any depth.

    Keys that become equal (`"a\\u0000b"` and `"ab"`) merge, the later one's value winning; when `merged` is
    given, the keys that held a NUL in such a merge are appended to it, so the caller can say so.
    """
    kind = type(value)
    if kind is str:
        return value.replace("\x00", "")
    if kind is dict:
        stripped = {strip_nul(k): strip_nul(v, merged) for k, v in value.items()}
        if merged is not None and len(stripped) < len(value):
            merged.extend(key for key in value if "\x00" in key)
        return stripped
    if kind is list:
        return [strip_nul(v, merged) for v in value]
    return value


def fast_converter(column: Kind, values: Kind) -> Callable[[Any], Any] | None:
    """What the fast path must do to a non-null value before handing it to psycopg (None: nothing)."""
    if column is Kind.JSONB:
        return to_json_text
    if column is Kind.TEXT and values is not Kind.TEXT:
        return to_text
    return None


def _blank(value: Any) -> bool:
    return type(value) is str and not value.strip()


def _bigint(value: Any) -> int:
    kind = type(value)
    if kind is bool:
        raise ConversionError(f"boolean {value!r} is not an integer")
    if kind is int:
        number = value
    elif kind is Decimal or kind is float:
        try:
            number = int(value)
        except (ValueError, OverflowError):
            raise ConversionError(f"{value!r} is not a whole number") from None
        if number != value:
            raise ConversionError(f"{value!r} is not a whole number")
    elif kind is str:
        try:
            number = int(value.strip())
        except ValueError:
            raise ConversionError(f"{value!r} is not an integer") from None
    else:
        raise ConversionError(f"{type(value).__name__} {value!r} is not an integer")
    if not BIGINT_MIN <= number <= BIGINT_MAX:
        raise ConversionError(f"{number} does not fit in bigint")
    return number


def _numeric(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is Decimal or kind is float:
        return value
    if kind is str:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ConversionError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ConversionError(f"{value!r} is not a finite number")
        return number
    raise ConversionError(f"{type(value).__name__} {value!r} is not a number")


def _boolean(value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        return value
    if kind is int and value in (0, 1):
        return bool(value)
    if kind is str:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ConversionError(f"{value!r} is not a boolean")


def _date(value: Any) -> str:
    if type(value) is not str:
        raise ConversionError(f"{type(value).__name__} {value!r} is not a date")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise ConversionError(f"{value!r} is not an ISO 8601 date") from None


def _timestamptz(value: Any) -> str:
    if type(value) is not str:
        raise ConversionError(f"{type(value).__name__} {value!r} is not a date-time")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConversionError(f"{value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def _time(value: Any) -> str:
    if type(value) is not str:
        raise ConversionError(f"{type(value).__name__} {value!r} is not a time")
    try:
        return dt.time.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ConversionError(f"{value!r} is not an ISO 8601 time") from None


def _encodable(convert: Callable[[Any], str]) -> Callable[[Any], str]:
    """A converter that writes JSON text, failing with a ConversionError that says why it could not."""

    def checked(value: Any) -> str:
        try:
            return convert(value)
        except RecursionError:
            raise ConversionError("is nested too deeply to be written as JSON") from None
        except UNENCODABLE:
            raise ConversionError(
                "holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is not valid "
                "Unicode text and cannot be stored in PostgreSQL"
            ) from None

    return checked


_STRICT: dict[Kind, Callable[[Any], Any]] = {
    Kind.BIGINT: _bigint,
    Kind.NUMERIC: _numeric,
    Kind.BOOLEAN: _boolean,
    Kind.DATE: _date,
    Kind.TIMESTAMPTZ: _timestamptz,
    Kind.TIME: _time,
    Kind.TEXT: _encodable(to_text),
    Kind.JSONB: _encodable(to_json_text),
}


def strict_convert(column: Kind, value: Any) -> Any:
    """Check and normalise one non-null value for a column, or raise ConversionError.

    An empty string in a non-text column becomes NULL: ERP APIs send "" for "no date" or "no amount",
    and rejecting the whole record for that would hide good data.
    """
    if column is not Kind.TEXT and column is not Kind.JSONB and _blank(value):
        return None
    return _STRICT[column](value)


def lenient_convert(column: Kind, value: Any) -> Any:
    """Metadata values (time_extracted, version): a malformed one becomes NULL rather than a rejection."""
    try:
        return None if value is None else strict_convert(column, value)
    except ConversionError:
        return None
