"""The message loop: bytes in, msgspec out, RECORDs handed to their sink in one call.

singer-sdk's reader decodes text lines into dicts and routes every message through a dict of callbacks.
Ours reads the input as bytes through a large buffer, decodes a RECORD line in one pass with the decoder
of the stream it expects (the previous record's stream), and calls that stream's sink directly with the
decoded message and the raw line (which the sink spills for replay). Every other message is decoded as a
dict and given to a callback, exactly like the SDK does.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import msgspec

from ponte.targets.postgres import protocol
from ponte.targets.postgres.json_depth import TOO_DEEP, truncate_depth
from ponte.targets.postgres.values import decode_json

NUL_ESCAPE = b"\\u0000"


class Envelope(msgspec.Struct):
    """The parts of a message needed to route it; the record is skipped, not built."""

    type: str = ""
    stream: Any = None
    record: msgspec.Raw = msgspec.Raw(b"")
    version: Any = None
    time_extracted: Any = None


_decode_envelope = msgspec.json.Decoder(Envelope).decode


def _decode_or_none(decode: Callable[[bytes], Any], line: bytes) -> Any:
    """Decode with a stream's typed decoder; None when the line does not fit it (e.g. a non-object record,
    or one nested too deep, which the dict decoder then reports)."""
    try:
        return decode(line)
    except (msgspec.DecodeError, RecursionError):
        return None


def decode_message(line: bytes | str) -> dict[str, Any]:
    """Decode one message as a dict (integers exact, fractions as Decimal) or raise InvalidInputLine."""
    try:
        message = decode_json(line)
    except msgspec.DecodeError:
        shown = line[:300] if isinstance(line, str) else line[:300].decode("utf-8", "replace")
        raise protocol.invalid_line(f"Unable to parse line as JSON: {shown}") from None
    if not isinstance(message, dict):
        raise protocol.invalid_line(f"A Singer message must be a JSON object, got: {str(line)[:300]}")
    return message


def binary_lines(file_input: IO[Any] | None) -> Iterable[bytes | str]:
    """The input as byte lines when it is a real file (stdin, --input), else whatever it yields."""
    source = sys.stdin if file_input is None else file_input
    if isinstance(source, io.TextIOWrapper):
        try:
            descriptor = source.fileno()
        except (OSError, ValueError):
            return source.buffer
        # Read the file itself through a 1 MiB buffer: far fewer read() calls than the default 8 KiB.
        return io.BufferedReader(io.FileIO(descriptor, closefd=False), buffer_size=1 << 20)
    return source


def read_messages(
    file_input: IO[Any] | None,
    *,
    routes: Mapping[str, Any],
    on_record: Callable[[dict[str, Any], bytes], None],
    on_full: Callable[[], None],
    callbacks: Mapping[str, Callable[[dict[str, Any]], None]],
    on_unreadable: Callable[[dict[str, Any], str], None],
) -> Counter[str]:
    """Process every message of the input; returns how many of each type were read.

    `routes` maps a stream to the sink that loads it unchanged (read live: sinks added later are seen);
    RECORDs of other streams, and records holding NUL characters, go to `on_record` as dicts.
    `on_full` is called when a sink's batch is full. A RECORD nested too deep to decode goes to
    `on_unreadable`, cut down to its first levels, with the reason.
    """

    def decode_slowly(line: bytes) -> dict[str, Any] | None:
        """A line the fast decoders refused, as a dict; None when it was a record too deep to decode."""
        try:
            return decode_message(line)
        except RecursionError:
            message = decode_message(truncate_depth(line))
        if message.get("type") != "RECORD":
            raise protocol.invalid_line(f"A {message.get('type')} message is nested too deep to decode: {line[:300]!r}")
        protocol.require(message, ["stream", "record"])
        on_unreadable(message, TOO_DEEP)
        return None

    decode = _decode_envelope  # switched to the current stream's own decoder once one is seen
    records = 0
    others: Counter[str] = Counter()
    for raw in binary_lines(file_input):
        line = raw.encode("utf-8") if type(raw) is str else raw
        try:
            envelope = decode(line)
        except msgspec.DecodeError:
            if not line.strip():
                continue
            envelope = None
        except RecursionError:
            envelope = None  # the dict decoder below meets it again and sets the record aside
        if envelope is not None and envelope.type == "RECORD":
            if line[-1:] != b"\n":
                line += b"\n"
            sink = routes.get(envelope.stream)
            if sink is not None and NUL_ESCAPE not in line:
                if sink.decode_envelope is not decode:
                    decode = sink.decode_envelope
                    envelope = _decode_or_none(decode, line)
                if envelope is not None and envelope.record is not None:
                    if sink.write_envelope(envelope, line):
                        on_full()
                    records += 1
                    continue
            message = decode_slowly(line)
            if message is not None:
                on_record(message, line)
            records += 1
            continue
        message = decode_slowly(line)
        if message is None:
            records += 1
            continue
        kind = message.get("type")
        if kind == "RECORD":  # only when the fast decoders refused the line
            on_record(message, line if line[-1:] == b"\n" else line + b"\n")
            records += 1
            continue
        if kind is None:
            protocol.require(message, ["type"])
        callback = callbacks.get(kind)
        if callback is None:
            raise ValueError(f"Unknown message type '{kind}' in message.")
        callback(message)
        others[kind] += 1
    others["RECORD"] = records
    return others
