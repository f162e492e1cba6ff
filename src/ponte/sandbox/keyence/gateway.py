"""`ponte sandbox keyence`: a simulated SICFAR gateway writing KEYENCE counter lines into TXT files.

It writes the layout taps/keyence.yml declares (our assumption, see there):
`2026-11-23 14:03:07.250;LINHA-01;KV-01;OP000123;12345;17` — one file per production line (`LINHA-01.txt`),
`rate` readings per second per file, the line's sensors in turn, cumulative counters per sensor that restart
at 0 when the line starts a new production order (every `order_readings` readings) and, rarely, on a simulated
power cycle. Files rotate by renaming (`LINHA-01.txt` → `LINHA-01.20261123-140000-000.txt`, a new
`LINHA-01.txt` follows) when they reach `rotate_bytes` or when the hour changes. To exercise readers it can
write each line in two parts (`half_lines`) and add malformed lines (`bad_rate`) that are not readings.

`GatewaySimulator` is driven step by step (tests, benchmarks: deterministic for a seed and a start time);
`run` is the command's loop on the real clock, or on a simulated one as fast as possible (`fast`).
`truth` holds what the lines say was produced and rejected per (order, line), to check a loader's sums against.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

GATEWAY_ZONE = ZoneInfo("America/Sao_Paulo")
DEFAULT_START = dt.datetime(2026, 11, 23, 6, 0, 0, tzinfo=GATEWAY_ZONE)
BAD_LINES = (
    "{moment};{line};{sensor};{order};12a45;0",  # a digit misread
    "{moment};{line};{sensor};{order}",  # fields missing
    "#GATEWAY buffer overflow at {moment}",  # a gateway message
    "{moment};{line};{sensor};{order};-;-",  # counters not available
)


@dataclass
class Sensor:
    """One sensor's running totals."""

    name: str
    produced: int = 0
    rejected: int = 0


@dataclass
class ProductionLine:
    """One production line: its file, sensors, current order and the readings since that order started."""

    name: str
    sensors: list[Sensor]
    order_number: int
    readings_in_order: int = 0
    next_sensor: int = 0
    opened_at: dt.datetime | None = None
    pending: bytes = b""
    fd: int | None = None

    @property
    def order(self) -> str:
        """The production order id, e.g. OP000123."""
        return f"OP{self.order_number:06d}"


@dataclass(frozen=True)
class Written:
    """One line the simulator wrote: where it is and what moment it carries."""

    file: str
    offset: int
    text: str
    moment: dt.datetime
    reading: bool


@dataclass
class GatewaySimulator:
    """Writes gateway files into `folder`; call `step` once per tick (one reading per production line)."""

    folder: Path
    lines: int = 2
    sensors: int = 2
    seed: int = 42
    rotate_bytes: int = 0
    rotate_hourly: bool = True
    half_lines: bool = False
    bad_rate: float = 0.0
    order_readings: int = 2400
    reset_rate: float = 0.0005
    first_order: int = 1
    truth: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    rotations: int = 0

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(self.seed)
        self.production_lines = [
            ProductionLine(
                name=f"LINHA-{index + 1:02d}",
                sensors=[Sensor(f"KV-{s + 1:02d}") for s in range(self.sensors)],
                order_number=self.first_order + index * 1000,
            )
            for index in range(self.lines)
        ]

    # -- files ---------------------------------------------------------------------------------------------

    def path(self, line: ProductionLine) -> Path:
        """The file a production line is writing now."""
        return self.folder / f"{line.name}.txt"

    def _fd(self, line: ProductionLine, moment: dt.datetime) -> int:
        if line.fd is None:
            line.fd = os.open(self.path(line), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            line.opened_at = moment
        return line.fd

    def rotate(self, line: ProductionLine, moment: dt.datetime) -> Path | None:
        """Rename the line's file to its archive name; the next write creates a new one. None if no file yet."""
        if line.fd is None:
            return None
        os.close(line.fd)
        line.fd = None
        stamp = moment.astimezone(GATEWAY_ZONE).strftime("%Y%m%d-%H%M%S-%f")[:-3]
        archived = self.folder / f"{line.name}.{stamp}.txt"
        os.rename(self.path(line), archived)
        self.rotations += 1
        return archived

    def _maybe_rotate(self, line: ProductionLine, moment: dt.datetime) -> None:
        if line.fd is None or line.pending:
            return
        local = moment.astimezone(GATEWAY_ZONE)
        opened = line.opened_at.astimezone(GATEWAY_ZONE) if line.opened_at else local
        new_hour = self.rotate_hourly and (local.date(), local.hour) != (opened.date(), opened.hour)
        if new_hour or (self.rotate_bytes and os.fstat(line.fd).st_size >= self.rotate_bytes):
            self.rotate(line, moment)

    def close(self) -> None:
        """Close the open files (a half-written line stays half-written)."""
        for line in self.production_lines:
            if line.fd is not None:
                os.close(line.fd)
                line.fd = None

    # -- readings ------------------------------------------------------------------------------------------

    def _reading(self, line: ProductionLine, moment: dt.datetime) -> str:
        if line.readings_in_order >= self.order_readings:
            line.order_number += 1
            line.readings_in_order = 0
            for sensor in line.sensors:  # the PLC restarts its counters with each new order
                sensor.produced = sensor.rejected = 0
        sensor = line.sensors[line.next_sensor]
        line.next_sensor = (line.next_sensor + 1) % len(line.sensors)
        line.readings_in_order += 1
        produced = self.rng.choices((0, 1, 2, 3), weights=(1, 4, 4, 1))[0]
        rejected = 1 if self.rng.random() < 0.03 else 0
        if line.readings_in_order > 50 and self.rng.random() < self.reset_rate:
            sensor.produced = sensor.rejected = 0  # power cycle: the counter starts over
        sensor.produced += produced
        sensor.rejected += rejected
        totals = self.truth[(line.order, line.name)]
        totals[0] += produced
        totals[1] += rejected
        return f"{_stamp(moment)};{line.name};{sensor.name};{line.order};{sensor.produced};{sensor.rejected}"

    def _bad(self, line: ProductionLine, moment: dt.datetime) -> str:
        sensor = line.sensors[line.next_sensor].name
        template = self.rng.choice(BAD_LINES)
        return template.format(moment=_stamp(moment), line=line.name, sensor=sensor, order=line.order)

    def step(self, moment: dt.datetime) -> list[Written]:
        """One reading per production line at `moment` (and maybe a malformed line before it).

        With `half_lines`, each line is written up to a random point and the rest waits for `finish_halves`
        (called by the next `step`), so a reader polling in between sees an incomplete last line.
        """
        self.finish_halves()
        written = []
        for line in self.production_lines:
            self._maybe_rotate(line, moment)
            fd = self._fd(line, moment)
            texts = []
            if self.bad_rate and self.rng.random() < self.bad_rate:
                texts.append((self._bad(line, moment), False))
            texts.append((self._reading(line, moment), True))
            for text, reading in texts:
                data = (text + "\n").encode()
                offset = os.fstat(fd).st_size + len(line.pending)
                if self.half_lines and reading:
                    cut = self.rng.randrange(1, len(data) - 1)
                    os.write(fd, data[:cut])
                    line.pending = data[cut:]
                else:
                    os.write(fd, data)
                written.append(Written(self.path(line).name, offset, text, moment, reading))
        return written

    def finish_halves(self) -> None:
        """Write the rest of every half-written line."""
        for line in self.production_lines:
            if line.pending and line.fd is not None:
                os.write(line.fd, line.pending)
            line.pending = b""

    def totals(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(order, line) → (produced, rejected) according to the readings written so far."""
        return {key: (value[0], value[1]) for key, value in self.truth.items()}


def _stamp(moment: dt.datetime) -> str:
    """Gateway local time with milliseconds: 2026-11-23 14:03:07.250."""
    return moment.astimezone(GATEWAY_ZONE).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def run(
    simulator: GatewaySimulator,
    *,
    rate: float,
    count: int | None = None,
    fast: bool = False,
    start: dt.datetime | None = None,
    announce: Any = print,
) -> int:
    """Write until `count` ticks (readings per production line) or SIGTERM/SIGINT; returns the ticks written.

    Real clock: one tick every 1/rate seconds, stamped with the current time (a half line's rest follows half a
    tick later). `fast`: a simulated clock from `start`, advancing 1/rate seconds per tick, without waiting.
    """
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    interval = 1.0 / rate
    ticks = 0
    moment = start or DEFAULT_START
    began = time.monotonic()
    try:
        while not stopping and (count is None or ticks < count):
            if fast:
                simulator.step(moment)
                moment += dt.timedelta(seconds=interval)
            else:
                due = began + ticks * interval
                _sleep_until(due, lambda: stopping)
                if stopping:
                    break
                simulator.step(dt.datetime.now(dt.UTC))
                if simulator.half_lines:
                    _sleep_until(due + interval / 2, lambda: stopping)
                    simulator.finish_halves()
            ticks += 1
            if ticks % max(1, int(rate * 60)) == 0 and not fast:
                announce(f"{ticks} readings per line written; rotations so far: {simulator.rotations}")
    finally:
        simulator.finish_halves()
        simulator.close()
    return ticks


def _sleep_until(deadline: float, stopped: Any) -> None:
    while not stopped():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.2))
