"""Turn a Singer record into the payload the API expects, or say exactly why it cannot be sent.

Singer metadata (`_sdc_*`) and, unless told otherwise, fields the payload schema does not declare are dropped;
date-times go out as UTC ISO 8601 with `Z` when the entity asks; the key must have its declared type; and the
whole payload is validated against the entity's JSON Schema, so the API is never asked to refuse what we
could have refused ourselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from ponte.targets.api.definition import EntityDef


@dataclass
class Refusal:
    """Why a record cannot be sent: a sentence per problem, and the fields involved."""

    problems: list[str]
    fields: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


class PayloadPreparer:
    """Prepares every record of one entity."""

    def __init__(self, entity: EntityDef, timezone: ZoneInfo) -> None:
        self.entity = entity
        self.timezone = timezone
        self.properties: Mapping[str, Any] = entity.schema.get("properties") or {}
        self.validator = Draft202012Validator(entity.schema, format_checker=FormatChecker())
        self.date_fields = {
            name
            for name, prop in self.properties.items()
            if isinstance(prop, dict) and prop.get("format") == "date-time"
        }
        self.dropped: set[str] = set()

    def prepare(self, record: Mapping[str, Any]) -> tuple[dict[str, Any], Refusal | None]:
        """The payload, and the refusal when it must not be sent (the payload is then what was checked)."""
        payload = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        if self.entity.strip_unknown and self.properties:
            for name in [k for k in payload if k not in self.properties]:
                self.dropped.add(name)
                del payload[name]
        problems: list[str] = []
        fields: list[str] = []
        if self.entity.dates == "iso_z":
            for name in self.date_fields:
                if payload.get(name) not in (None, ""):
                    converted = iso_z(payload[name], self.timezone)
                    if converted is None:
                        problems.append(f"{name}: {payload[name]!r} is not a date-time")
                        fields.append(name)
                    else:
                        payload[name] = converted
        key = payload.get(self.entity.key)
        if (
            self.entity.key_type == "integer"
            and key is not None
            and (not isinstance(key, int) or isinstance(key, bool))
        ):
            problems.append(f"{self.entity.key}: {key!r} must be an integer (the API's key is an immutable integer)")
            fields.append(self.entity.key)
        for error in sorted(self.validator.iter_errors(payload), key=lambda e: list(e.absolute_path)):
            name = ".".join(str(p) for p in error.absolute_path) or _missing_field(error)
            if name in fields:
                continue
            problems.append(f"{name}: {self._sentence(error)}" if name else self._sentence(error))
            fields.append(name)
        return payload, (Refusal(problems, fields) if problems else None)

    def _sentence(self, error: ValidationError) -> str:
        prop = error.schema if isinstance(error.schema, dict) else {}
        described = prop.get("description") if error.validator in ("pattern", "format", "enum", "type") else None
        if error.validator == "anyOf" and isinstance(error.instance, dict):
            options = [s.get("title") for s in error.validator_value if isinstance(s, dict) and s.get("title")]
            return "give one of: " + " or ".join(options) if options else error.message
        if error.validator == "required":
            return error.message.replace("is a required property", "is required")
        text = f"{error.instance!r} is not valid" if error.validator in ("pattern", "format") else error.message
        return f"{text} — {described}" if described else text


def _missing_field(error: ValidationError) -> str:
    if error.validator == "required" and isinstance(error.message, str):
        return error.message.split("'")[1] if "'" in error.message else ""
    return ""


def iso_z(value: Any, timezone: ZoneInfo) -> str | None:
    """A date-time as UTC ISO 8601 with Z (naive values are read in `timezone`); None if it is not one."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip().replace(" ", "T", 1)
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    moment = moment.astimezone(dt.UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
