"""`ponte sandbox keyence`: the command of the simulated SICFAR gateway (`ponte.sandbox.keyence.gateway`)."""

from __future__ import annotations

import datetime as dt

import click

from ponte.sandbox.keyence.gateway import GATEWAY_ZONE, GatewaySimulator, run


@click.command()
@click.option(
    "--folder",
    type=click.Path(file_okay=False),
    default=".ponte/keyence-gateway",
    show_default=True,
    help="Where to write the TXT files (the dev environment's tap-keyence folder).",
)
@click.option(
    "--rate", type=click.FloatRange(min=0.01), default=4.0, show_default=True, help="Readings per second per line."
)
@click.option("--lines", type=click.IntRange(1, 99), default=2, show_default=True, help="Production lines (files).")
@click.option("--sensors", type=click.IntRange(1, 99), default=2, show_default=True, help="Sensors per line.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of counters, faults and order changes.")
@click.option(
    "--rotate-bytes",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Rotate a file (rename, start a new one) once it reaches this size; 0: never by size.",
)
@click.option(
    "--rotate-hourly/--no-rotate-hourly", default=True, show_default=True, help="Rotate when the hour changes."
)
@click.option("--half-lines", is_flag=True, help="Write each line in two parts, the second half a tick later.")
@click.option(
    "--bad-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of ticks that also write a malformed line (misread digit, missing fields, gateway message).",
)
@click.option(
    "--order-readings",
    type=click.IntRange(min=1),
    default=2400,
    show_default=True,
    help="Readings per production order; then the line starts the next order and its counters restart at 0.",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many readings per line (default: never).")
@click.option(
    "--fast",
    is_flag=True,
    help="Simulated clock from --start, 1/rate seconds per reading, written as fast as possible (big files).",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    default="2026-11-23T06:00:00",
    show_default=True,
    help="First timestamp with --fast (gateway local time, America/Sao_Paulo).",
)
def keyence(
    folder: str,
    rate: float,
    lines: int,
    sensors: int,
    seed: int,
    rotate_bytes: int,
    rotate_hourly: bool,
    half_lines: bool,
    bad_rate: float,
    order_readings: int,
    count: int | None,
    fast: bool,
    start: dt.datetime,
) -> None:
    """A SICFAR gateway writing KEYENCE counter lines into TXT files (layout: taps/keyence.yml).

    \b
    One file per production line (LINHA-01.txt, …), cumulative counters per sensor restarting with each
    production order. Stop with Ctrl-C: a half-written line is completed first.
    Then: ponte follow keyence-to-postgres   (the dev environment reads .ponte/keyence-gateway)
    """

    simulator = GatewaySimulator(
        folder,
        lines=lines,
        sensors=sensors,
        seed=seed,
        rotate_bytes=rotate_bytes,
        rotate_hourly=rotate_hourly,
        half_lines=half_lines,
        bad_rate=bad_rate,
        order_readings=order_readings,
    )
    names = ", ".join(line.name for line in simulator.production_lines)
    click.echo(
        f"KEYENCE gateway sandbox: folder={simulator.folder} lines={names} sensors/line={sensors} "
        f"rate={rate:g}/s per line{' (fast, simulated clock)' if fast else ''}"
    )
    ticks = run(
        simulator, rate=rate, count=count, fast=fast, start=start.replace(tzinfo=GATEWAY_ZONE), announce=click.echo
    )
    click.echo(f"wrote {ticks} readings per line ({ticks * lines} in all); rotations: {simulator.rotations}")
