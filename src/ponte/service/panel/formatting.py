"""How the panel writes times, numbers and durations: Brazilian Portuguese, São Paulo time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/Sao_Paulo")

STATUS_TEXT = {
    "running": "em andamento",
    "starting": "iniciando",
    "succeeded": "sucesso",
    "failed": "falhou",
    "partial": "parcial",
    "stopped-quota": "cota esgotada",
}
TRIGGER_TEXT = {"manual": "manual", "schedule": "agendada", "webhook": "webhook", "catch-up": "recuperação"}


def when(value: datetime | str | None) -> str:
    """`02/12/2026 08:15` in São Paulo time; `—` for nothing."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(ZONE).strftime("%d/%m/%Y %H:%M")


def number(value: int | float | None) -> str:
    """`12.345` (pt-BR thousands separator); decimals with a comma."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return f"{int(value):,}".replace(",", ".")


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = max(0, round((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def status(value: str | None) -> str:
    return STATUS_TEXT.get(value or "", value or "—")


def trigger(value: str | None) -> str:
    return TRIGGER_TEXT.get(value or "", value or "—")
