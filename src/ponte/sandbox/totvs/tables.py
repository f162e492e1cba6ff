"""Protheus tables as the database stores them: SB1 (produtos), SC2 (ordens de produção), SB8 (saldos por lote).

Columns carry their dictionary (SX3) type and width: char fields are stored SPACE-PADDED to their width, dates
as 'YYYYMMDD' char(8) (blank = 8 spaces), numbers as numbers [G — general Protheus behaviour, api-facts §6.1].
Widths follow the standard dictionary (B1_COD 15, B1_DESC 30, C2_NUM 6, B8_LOTECTL 10, ...) [C] TTALK x-totvs
maps where they name them, [C3] otherwise. B1_XVELNOM is a customer field (X = custom prefix): the line's
nominal speed in units per minute, what the SicFar seed calls "velocidades nominais".

Every table also has D_E_L_E_T_ ('*' = deleted) and R_E_C_N_O_; S_T_A_M_P_ (UTC, insert/update time) exists
only on tables created with UseRowStamp=1 (switch `protheus_row_stamp`). A `Table` keeps rows in that stored
form (upper-case keys) plus hidden keys starting with `_` (`_stamp`, the facade's `_lote`, `_linha`, ...).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]
BLANK_DATE = " " * 8
SYSTEM_COLUMNS = ("D_E_L_E_T_", "R_E_C_N_O_", "S_T_A_M_P_")


@dataclass(frozen=True)
class Column:
    """One dictionary field: name, type C (char) / D (date) / N (number), width and decimals."""

    name: str
    kind: str
    width: int
    decimals: int = 0

    def store(self, value: Any) -> Any:
        """A Python value (str, date, number, None) in its stored form."""
        if self.kind == "N":
            if value is None or value == "":
                return 0
            number = float(value) if self.decimals else int(float(value))
            return round(number, self.decimals) if self.decimals else number
        if self.kind == "D":
            return store_date(value)
        text = "" if value is None else str(value)
        if len(text) > self.width:
            raise ValueError(f"{self.name}: '{text}' is longer than {self.width} characters")
        return text.ljust(self.width)


def store_date(value: Any) -> str:
    """date / 'YYYY-MM-DD' / 'YYYYMMDD' / blank -> 'YYYYMMDD' or 8 spaces."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return BLANK_DATE
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return text
    return dt.date.fromisoformat(text).strftime("%Y%m%d")


def iso_date(stored: str) -> str | None:
    """'20261120' -> '2026-11-20'; blank -> None."""
    if not stored.strip():
        return None
    return f"{stored[:4]}-{stored[4:6]}-{stored[6:8]}"


def stamp_text(moment: dt.datetime) -> str:
    """S_T_A_M_P_ as genericQuery shows it: UTC 'YYYY-MM-DDTHH:MM:SS.mmm' [G]."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


def utc_ms(moment: dt.datetime) -> dt.datetime:
    """An aware moment in UTC, cut to milliseconds (what S_T_A_M_P_ keeps)."""
    utc = moment.astimezone(dt.UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


C, D, N = "C", "D", "N"
COLUMNS: dict[str, tuple[Column, ...]] = {
    "SB1": (
        Column("B1_FILIAL", C, 2), Column("B1_COD", C, 15), Column("B1_DESC", C, 30), Column("B1_TIPO", C, 2),
        Column("B1_UM", C, 2), Column("B1_LOCPAD", C, 2), Column("B1_GRUPO", C, 4), Column("B1_PESO", N, 11, 4),
        Column("B1_PESBRU", N, 11, 4), Column("B1_ATIVO", C, 1), Column("B1_XVELNOM", N, 9, 2),
    ),
    "SC2": (
        Column("C2_FILIAL", C, 2), Column("C2_NUM", C, 6), Column("C2_ITEM", C, 2), Column("C2_SEQUEN", C, 3),
        Column("C2_PRODUTO", C, 15), Column("C2_LOCAL", C, 2), Column("C2_QUANT", N, 12, 2),
        Column("C2_QUJE", N, 12, 2), Column("C2_UM", C, 2), Column("C2_EMISSAO", D, 8), Column("C2_DATPRI", D, 8),
        Column("C2_DATPRF", D, 8), Column("C2_DATRF", D, 8), Column("C2_STATUS", C, 1), Column("C2_TPOP", C, 1),
        Column("C2_CC", C, 9), Column("C2_OBS", C, 30),
    ),
    "SB8": (
        Column("B8_FILIAL", C, 2), Column("B8_PRODUTO", C, 15), Column("B8_LOCAL", C, 2), Column("B8_LOTECTL", C, 10),
        Column("B8_NUMLOTE", C, 6), Column("B8_DATA", D, 8), Column("B8_DTVALID", D, 8), Column("B8_SALDO", N, 14, 2),
        Column("B8_SALDO2", N, 14, 2), Column("B8_QTDORI", N, 14, 2), Column("B8_EMPENHO", N, 14, 2),
        Column("B8_LOTEFOR", C, 18),
    ),
    # Internal movements; the sandbox writes only production appointments (D3_CF 'PR0') [C3 widths, MATA250]
    "SD3": (
        Column("D3_FILIAL", C, 2), Column("D3_TM", C, 3), Column("D3_COD", C, 15), Column("D3_UM", C, 2),
        Column("D3_QUANT", N, 14, 2), Column("D3_PERDA", N, 14, 2), Column("D3_CF", C, 3), Column("D3_OP", C, 14),
        Column("D3_LOCAL", C, 2), Column("D3_DOC", C, 9), Column("D3_EMISSAO", D, 8), Column("D3_LOTECTL", C, 10),
        Column("D3_NUMSEQ", C, 6), Column("D3_PARCTOT", C, 1), Column("D3_ESTORNO", C, 1),
    ),
}  # fmt: skip
# The record key a touch may name: the table's unique index without the branch [C3] (SB8: ValidityLot map).
KEYS = {
    "SB1": ("B1_COD",), "SC2": ("C2_NUM", "C2_ITEM", "C2_SEQUEN"), "SB8": ("B8_PRODUTO", "B8_LOCAL", "B8_LOTECTL"),
    "SD3": ("D3_NUMSEQ",),
}  # fmt: skip


class Table:
    """The rows of one alias (every branch), R_E_C_N_O_ in insertion order."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.columns = {c.name: c for c in COLUMNS[alias]}
        self.rows: list[Row] = []
        self.lock = threading.RLock()

    @property
    def branch_field(self) -> str:
        return f"{self.alias[1:]}_FILIAL"

    def insert(self, values: Row, stamp: dt.datetime, deleted: bool = False, **hidden: Any) -> Row:
        """Store a row from Python values; unknown columns are an error, missing ones take their blank."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.alias} has no column {', '.join(sorted(unknown))}")
        row: Row = {name: column.store(values.get(name)) for name, column in self.columns.items()}
        row["D_E_L_E_T_"] = "*" if deleted else " "
        row["R_E_C_N_O_"] = len(self.rows) + 1
        row["_stamp"] = utc_ms(stamp)
        row.update({f"_{k}": v for k, v in hidden.items()})
        self.rows.append(row)
        return row

    def column_names(self, with_stamp: bool) -> list[str]:
        """What `SELECT *` returns: the dictionary fields, then D_E_L_E_T_, R_E_C_N_O_ (and S_T_A_M_P_)."""
        return [*self.columns, "D_E_L_E_T_", "R_E_C_N_O_", *(["S_T_A_M_P_"] if with_stamp else [])]

    def live(self, branch: str | None = None) -> list[Row]:
        """Rows not deleted, of one branch (None: all)."""
        field = self.branch_field
        return [r for r in self.rows if r["D_E_L_E_T_"] != "*" and (branch is None or r[field].strip() == branch)]

    def find(self, branch: str, key: Any) -> Row:
        """A row by R_E_C_N_O_ (int), by its key ('PA0001'; SC2 'NUM+ITEM+SEQUEN'; SB8 'PRODUTO|LOCAL|LOTE')
        or by {field: value} (case-insensitive names, values compared without padding); None: the first row."""
        candidates = [r for r in self.rows if r[self.branch_field].strip() == branch]
        if key is None:
            return _first(candidates, self.alias, key)
        if isinstance(key, int) and not isinstance(key, bool):
            return _first([r for r in self.rows if r["R_E_C_N_O_"] == key], self.alias, key)
        if isinstance(key, dict):
            wanted = {str(k).upper(): str(v).strip() for k, v in key.items()}
            unknown = set(wanted) - set(self.columns)
            if unknown:
                raise ValueError(f"{self.alias} has no column {', '.join(sorted(unknown))}")
            return _first(
                [r for r in candidates if all(str(r[k]).strip() == v for k, v in wanted.items())], self.alias, key
            )
        text = str(key).strip()
        parts = KEYS[self.alias]
        if self.alias == "SB8":
            return _first([r for r in candidates if "|".join(r[p].strip() for p in parts) == text], self.alias, key)
        return _first([r for r in candidates if "".join(r[p] for p in parts).strip() == text], self.alias, key)

    def change(self, row: Row, changes: Row, stamp: dt.datetime, deleted: bool | None = None) -> Row:
        """Apply changes (Python values, case-insensitive names) and set the row's stamp."""
        upper = {str(k).upper(): v for k, v in changes.items()}
        unknown = set(upper) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.alias} has no column {', '.join(sorted(unknown))} (or it cannot be changed)")
        stored = {name: self.columns[name].store(value) for name, value in upper.items()}
        row.update(stored)
        if deleted is not None:
            row["D_E_L_E_T_"] = "*" if deleted else " "
        row["_stamp"] = utc_ms(stamp)
        return row


def _first(rows: Iterable[Row], alias: str, key: Any) -> Row:
    for row in rows:
        return row
    raise ValueError(f"{alias}: no row for key {key!r}")


__all__ = [
    "BLANK_DATE",
    "COLUMNS",
    "KEYS",
    "SYSTEM_COLUMNS",
    "Column",
    "Table",
    "iso_date",
    "stamp_text",
    "store_date",
    "utc_ms",
]
