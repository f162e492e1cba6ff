"""genericQuery's `where`: a safe parser of the small SQL subset the sandbox accepts.

Real Protheus pastes `where` into the SQL it sends to the database [C] TDN GenericQuery. The sandbox accepts
only conditions `<FIELD> <op> <literal>` joined by AND, with op among `= <> != > >= < <=` and the literal a
quoted string (`''` escapes a quote) or a number; the field may carry the table alias (`SC2.C2_DATRF`).
Anything else (OR, parentheses, functions, LIKE, IN, sub-queries, a second statement) is a 400 in the TOTVS
error model; nothing is ever evaluated as code.

Comparisons follow SQL Server's rules for what Protheus stores: char and date fields compare without trailing
spaces (`C2_DATRF = ' '` finds the blank dates), numbers numerically, `S_T_A_M_P_` as a UTC date-time
(`'2026-11-23 10:00:00'`, `'2026-11-23T10:00:00.000'` or `'2026-11-23'`).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from ponte.sandbox.totvs.errors import TotvsError, bad_request, detail
from ponte.sandbox.totvs.tables import Column

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_CLAUSE = re.compile(
    r"\s*(?:(?P<alias>[A-Za-z][A-Za-z0-9]{2})\.)?(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<op><>|!=|>=|<=|=|>|<)\s*"
    r"(?P<value>'(?:[^']|'')*'|[-+]?\d+(?:\.\d+)?)\s*"
)
_AND = re.compile(r"AND\b\s*", re.IGNORECASE)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _refuse(where: str, why: str) -> TotvsError:
    return bad_request(
        "Parâmetro where inválido.",
        f"where '{where}': {why}. The sandbox accepts <FIELD> <op> '<value>' joined by AND (ops = <> > >= < <=).",
        [detail("where", why)],
    )


def parse(where: str, alias: str, columns: Mapping[str, Column], stamped: bool) -> Predicate:
    """A predicate over stored rows (upper-case keys, hidden `_stamp`), or a 400 TotvsError."""
    text = where.strip()
    if not text:
        return lambda row: True
    tests: list[Predicate] = []
    position = 0
    while True:
        found = _CLAUSE.match(text, position)
        if not found:
            raise _refuse(where, f"cannot read a condition at position {position + 1}")
        tests.append(_condition(where, found, alias, columns, stamped))
        position = found.end()
        if position == len(text):
            break
        joiner = _AND.match(text, position)
        if not joiner:
            raise _refuse(where, f"expected AND at position {position + 1}")
        position = joiner.end()
    return lambda row: all(test(row) for test in tests)


def _condition(where: str, found: re.Match[str], alias: str, columns: Mapping[str, Column], stamped: bool) -> Predicate:
    prefix, name, op, raw = found["alias"], found["field"].upper(), found["op"], found["value"]
    if prefix and prefix.upper() != alias:
        raise _refuse(where, f"unknown table alias '{prefix}'")
    compare = _OPS[op]
    quoted = raw.startswith("'")
    literal = raw[1:-1].replace("''", "'") if quoted else raw
    if name == "S_T_A_M_P_":
        if not stamped:
            raise _refuse(where, f"invalid column name 'S_T_A_M_P_' ({alias} has no row stamp)")
        moment = _moment(where, literal)
        return lambda row: row["_stamp"] is not None and compare(row["_stamp"], moment)
    if name == "R_E_C_N_O_":
        number = _number(where, name, literal)
        return lambda row: compare(row["R_E_C_N_O_"], number)
    if name == "D_E_L_E_T_":
        text = literal.rstrip()
        return lambda row: compare(row["D_E_L_E_T_"].rstrip(), text)
    column = columns.get(name)
    if column is None:
        raise _refuse(where, f"invalid column name '{found['field']}'")
    if column.kind == "N":
        number = _number(where, name, literal)
        return lambda row: compare(row[name], number)
    text = literal.rstrip()
    return lambda row: compare(row[name].rstrip(), text)


def _number(where: str, name: str, literal: str) -> float:
    try:
        return float(literal)
    except ValueError:
        raise _refuse(where, f"'{literal}' is not a number for {name}") from None


def _moment(where: str, literal: str) -> dt.datetime:
    text = literal.strip()
    try:
        if len(text) == 8 and text.isdigit():
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _refuse(where, f"'{literal}' is not a date-time for S_T_A_M_P_") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


__all__ = ["Predicate", "parse"]
