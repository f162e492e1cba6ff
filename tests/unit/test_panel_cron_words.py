"""A schedule's interval in the words the Schedules page shows (pt-BR), and the forms left as the expression."""

from __future__ import annotations

import pytest

from ponte.service.panel.cron_words import describe


@pytest.mark.parametrize(
    ("interval", "words"),
    [
        ("@hourly", "A cada hora, no minuto 00"),
        ("@daily", "Todos os dias, às 00:00"),
        ("@weekly", "Aos domingos, às 00:00"),
        ("@monthly", "No dia 1 de cada mês, às 00:00"),
        ("@once", "Somente quando iniciado à mão (sem horário)"),
        ("*/15 * * * *", "A cada 15 minutos"),
        ("30 2 * * 1-5", "De segunda a sexta, às 02:30"),
        ("30 2 * * MON-FRI", "De segunda a sexta, às 02:30"),
        ("0 6,18 * * *", "Todos os dias, às 06:00 e 18:00"),
        ("0 */2 * * *", "A cada 2 horas, no minuto 00"),
        ("5 4 1 1 *", "No dia 1 de janeiro, às 04:05"),
        ("0 0 1,15 * *", "Nos dias 1 e 15 de cada mês, às 00:00"),
        ("0 12 * * 1,3,6", "Às segundas, às quartas e aos sábados, às 12:00"),
        ("*/5 8-18 * * 1-5", "De segunda a sexta, a cada 5 minutos, das 08:00 às 18:59"),
        ("0 8-18 * * *", "Todos os dias, de hora em hora, das 08:00 às 18:00"),
        ("* * * * * *", "A cada segundo"),
        ("0 3 * * * 0", "Todos os dias, às 03:00"),
    ],
)
def test_the_forms_meltano_accepts_read_as_portuguese(interval: str, words: str) -> None:
    assert describe(interval) == words


@pytest.mark.parametrize("interval", ["0 0 1 * 1", "0 0 */2 * *", "0 * * * * 30", "1 2 3", "61 * * * *"])
def test_forms_it_does_not_cover_are_left_to_the_expression(interval: str) -> None:
    assert describe(interval) is None
