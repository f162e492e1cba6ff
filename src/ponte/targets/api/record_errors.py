"""Read which records of a batch the API refused, from however the answer names them.

ProExtend-style (Laravel) bodies name records by position: `{"errors": {"professors.1.cpf": [...]}}` or
`{"errors": {"1": {"code": "P2", "cpf": [...]}}}`; a list of `{"index": 1, ...}` works too. Errors that name
no record (`{"errors": {"cpf": [...]}}`) are reported as unnamed, and the sender then splits the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ponte.declaration.records import dig
from ponte.targets.api.definition import RecordErrors

FieldErrors = dict[str, list[str]]


def named_failures(body: Any, path: str | None, rules: RecordErrors, size: int) -> tuple[dict[int, FieldErrors], bool]:
    """Field errors per refused position, and whether some error named no record of the batch."""
    errors = dig(body, path) if path else None
    named: dict[int, FieldErrors] = {}
    unnamed = False
    if isinstance(errors, Mapping):
        for name, value in errors.items():
            match = next((m for p in rules.key_patterns if (m := p.fullmatch(str(name)))), None)
            index = int(match.group("index")) if match else -1
            if not 0 <= index < size:
                unnamed = True
                continue
            field = match.groupdict().get("field") or ""
            _collect(named.setdefault(index, {}), field, value)
    elif isinstance(errors, list):
        for entry in errors:
            index = entry.get("index") if isinstance(entry, Mapping) else None
            if isinstance(index, int) and 0 <= index < size:
                _collect(named.setdefault(index, {}), "", {k: v for k, v in entry.items() if k != "index"})
            else:
                unnamed = True
    elif errors:
        unnamed = True
    return named, unnamed


def _collect(into: FieldErrors, field: str, value: Any) -> None:
    if isinstance(value, Mapping):
        # messages come in lists; a plain string beside them (`"code": "P2"`) names the record, it is no error
        listed = any(isinstance(messages, list) for messages in value.values())
        for sub, messages in value.items():
            if isinstance(messages, list) or (isinstance(messages, str) and not listed):
                into.setdefault(f"{field}.{sub}" if field else str(sub), []).extend(texts(messages))
        return
    into.setdefault(field, []).extend(texts(value))


def texts(value: Any) -> list[str]:
    """Messages as sentences: a string, a list of strings, `{field, message}` entries (`field: message`; the
    text may also be under `error` or `detail`), or `{field: [messages]}`. Nothing (None) gives no message."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            if isinstance(item, Mapping):
                field = item.get("field") or item.get("element")  # Bling: {code, msg, element, namespace}
                message = next((item[k] for k in ("message", "msg", "error", "detail") if item.get(k)), None)
                out.append(f"{field}: {message}" if field else str(message or item))
            elif item is not None:
                out.append(str(item))
        return out
    if isinstance(value, Mapping):
        fields: FieldErrors = {}
        _collect(fields, "", value)
        return [sentence(fields)] if any(fields.values()) else []
    return [str(value)]


def message_in(body: Any, paths: Iterable[str]) -> str | None:
    """The first message at one of `paths` (dotted), as one sentence; None when none of them holds one.

    APIs whose docs do not say where a message goes put it under `errors`, `message`, `error` or `detail`;
    a declaration lists the candidates so the user always sees the API's words, never `None`.
    """
    for path in paths:
        found = [text for text in texts(dig(body, path)) if text.strip()]
        if found:
            return sentence({"": found})
    return None


def sentence(fields: FieldErrors) -> str:
    """`cpf: CPF deve conter ...; email: Email já cadastrado` (messages already naming their field kept as is)."""
    parts = []
    for field, messages in fields.items():
        for message in messages:
            parts.append(message if not field or message.startswith(f"{field}:") else f"{field}: {message}")
    return "; ".join(parts) or "refused without a message"


def field_errors_of(body: Any, path: str) -> FieldErrors:
    """All field errors of a body that names no record (used when one record is left alone)."""
    errors = dig(body, path)
    found: FieldErrors = {}
    if isinstance(errors, Mapping):
        for name, value in errors.items():
            _collect(found, str(name), value)
    elif isinstance(errors, list):
        found[""] = texts(errors)
    return found
