"""A schedule's `interval` in Brazilian Portuguese words ("De segunda a sexta, às 02:30").

Our own, not cron-descriptor: its Portuguese is pt_PT and leaves week days and months in English ("de Monday a
Friday"). It covers the forms people write in meltano.yml — presets, every N minutes or hours, fixed times,
week days, days of the month, months; anything else (steps over days, day of month and week day together) is
answered with None, and the page shows the expression itself. The page always shows the expression too.
"""

from __future__ import annotations

from ponte.service.schedules import MANUAL, PRESETS

DAYS = ("domingo", "segunda", "terça", "quarta", "quinta", "sexta", "sábado")
DAYS_PLURAL = ("domingos", "segundas", "terças", "quartas", "quintas", "sextas", "sábados")
MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
          "novembro", "dezembro")  # fmt: skip
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MAX_TIMES = 6  # "às 06:00, 12:00 e 18:00" reads well; 24 times do not


class Unsupported(ValueError):
    """A form this module does not put in words."""


def _value(text: str, names: tuple[str, ...], low: int, high: int, offset: int = 0) -> int:
    lowered = text.lower()[:3]
    if lowered in names:
        return names.index(lowered) + offset
    if not text.isdigit() or not low <= int(text) <= high:
        raise Unsupported(text)
    return int(text)


def _values(text: str, low: int, high: int, names: tuple[str, ...] = (), offset: int = 0) -> list[int] | None:
    """The listed values of a field (None for `*`); ranges expanded; steps only over `*` are refused here."""
    if text == "*":
        return None
    found: list[int] = []
    for part in text.split(","):
        if "/" in part:
            raise Unsupported(part)
        start, _, end = part.partition("-")
        first = _value(start, names, low, high, offset)
        last = _value(end, names, low, high, offset) if end else first
        if last < first:
            raise Unsupported(part)
        found.extend(range(first, last + 1))
    return sorted(set(found))


def _every(text: str) -> int | None:
    """N of `*/N`, else None."""
    if text.startswith("*/") and text[2:].isdigit() and int(text[2:]) > 0:
        return int(text[2:])
    return None


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


def _time_words(minute: str, hour: str) -> tuple[str, bool]:
    """The time-of-day part, and whether it names times of day (so "todos os dias" reads naturally)."""
    if minute == "*" and hour == "*":
        return "a cada minuto", False
    every_minutes, every_hours = _every(minute), _every(hour)
    if every_minutes and hour == "*":
        return ("a cada minuto" if every_minutes == 1 else f"a cada {every_minutes} minutos"), False
    minutes = None if every_minutes or minute == "*" else _values(minute, 0, 59)
    if minutes is not None and hour == "*":
        at = _join([f"{m:02d}" for m in minutes])
        return f"a cada hora, no{'s' if len(minutes) > 1 else ''} minuto{'s' if len(minutes) > 1 else ''} {at}", False
    if minutes is not None and every_hours:
        each = "a cada hora" if every_hours == 1 else f"a cada {every_hours} horas"
        return f"{each}, no minuto {_join([f'{m:02d}' for m in minutes])}", False
    hours = _values(hour, 0, 23) if not every_hours else None
    if hours is None:
        raise Unsupported(hour)
    if every_minutes or minute == "*":
        each = "a cada minuto" if minute == "*" or every_minutes == 1 else f"a cada {every_minutes} minutos"
        return f"{each}, das {hours[0]:02d}:00 às {hours[-1]:02d}:59", False
    assert minutes is not None
    times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
    if len(times) > MAX_TIMES:
        if len(minutes) == 1 and hours == list(range(hours[0], hours[-1] + 1)):
            return f"de hora em hora, das {times[0]} às {times[-1]}", True
        raise Unsupported(hour)
    return f"às {_join(times)}", True


def _weekdays(days: list[int]) -> str:
    days = sorted({d % 7 for d in days})
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        return f"de {DAYS[days[0]]} a {DAYS[days[-1]]}"
    return _join([("aos " if d in (0, 6) else "às ") + DAYS_PLURAL[d] for d in days])


def _day_words(day: str, month: str, week_day: str) -> str:
    days = _values(day, 1, 31)
    months = _values(month, 1, 12, MONTH_NAMES, offset=1)
    week_days = _values(week_day, 0, 7, DAY_NAMES)
    if days is not None and week_days is not None:
        raise Unsupported(f"{day} {week_day}")  # cron's "either" rule reads badly in words
    in_months = _join([MONTHS[m - 1] for m in months]) if months else ""
    if days is not None:
        text = f"no dia {days[0]}" if len(days) == 1 else f"nos dias {_join([str(d) for d in days])}"
        return f"{text} de {in_months}" if in_months else f"{text} de cada mês"
    parts = [_weekdays(week_days)] if week_days is not None else []
    if in_months:
        parts.append(f"em {in_months}")
    return ", ".join(parts)


def describe(interval: str) -> str | None:
    """The interval in words, capitalised; None when it is a form this module does not cover."""
    text = interval.strip()
    if text in MANUAL:
        return "Somente quando iniciado à mão (sem horário)"
    fields = PRESETS.get(text, text).split()
    if len(fields) == 6:
        if fields == ["*"] * 6:
            return "A cada segundo"
        if fields[5] != "0":
            return None
        fields = fields[:5]
    if len(fields) != 5:
        return None
    try:
        time_part, at_times = _time_words(fields[0], fields[1])
        day_part = _day_words(fields[2], fields[3], fields[4])
    except Unsupported:
        return None
    if day_part:
        words = f"{day_part}, {time_part}"
    elif at_times:
        words = f"todos os dias, {time_part}"
    else:
        words = time_part
    return words[0].upper() + words[1:]
