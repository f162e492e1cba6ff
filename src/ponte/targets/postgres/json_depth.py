"""Records nested deeper than the JSON decoders can follow (Python's recursion limit, about 1,000 levels).

Such a record is valid JSON but cannot be decoded, so it cannot be loaded either. It goes to the dead letters
instead of stopping the load, and so that it can still be found there, its line is first cut down to a few
levels: every deeper value becomes a marker string, which any decoder reads.
"""

from __future__ import annotations

KEPT_LEVELS = 16
MARKER = b'"<nested too deep: cut here>"'
TOO_DEEP = (
    "record is nested deeper than the loader can decode (about 1,000 levels of objects and arrays), so it was "
    f"not loaded; this dead letter keeps its first {KEPT_LEVELS} levels. Flatten that field at the source, or "
    "send it as a JSON string"
)

_OPEN, _CLOSE, _QUOTE, _BACKSLASH = b"[{", b"]}", 0x22, 0x5C


def _string_end(document: bytes, start: int) -> int:
    """Index just past the string whose opening quote is at `start - 1`."""
    while True:
        quote = document.find(b'"', start)
        if quote < 0:
            return len(document)
        backslashes = 0
        while document[quote - 1 - backslashes] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            return quote + 1
        start = quote + 1


def truncate_depth(document: bytes, keep: int = KEPT_LEVELS) -> bytes:
    """`document` with every object or array nested deeper than `keep` levels replaced by `MARKER`.

    Iterative on purpose: a recursive walk would meet the very limit it works around.
    """
    out = bytearray()
    depth = copied = position = 0
    cut_at: int | None = None  # depth of the container being dropped
    size = len(document)
    while position < size:
        byte = document[position]
        if byte == _QUOTE:
            position = _string_end(document, position + 1)
            continue
        if byte in _OPEN:
            depth += 1
            if depth > keep and cut_at is None:
                out += document[copied:position] + MARKER
                cut_at = depth
        elif byte in _CLOSE:
            if cut_at == depth:
                cut_at = None
                copied = position + 1
            depth -= 1
        position += 1
    if cut_at is None:
        out += document[copied:]
    return bytes(out)
