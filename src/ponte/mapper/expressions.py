"""Expressions of a mapping (`expr`, `filter`): singer-sdk stream-map syntax evaluated with simpleeval.

The names an expression sees are the ones singer-sdk's stream maps give: every field of the source record
by name, `record` and `_` (the whole record, for names that are not identifiers), `__stream_name__`, and the
functions of singer-sdk (`md5`, `sha256`, `datetime`, `json`, `bool`, `int`, `float`, `str`) plus a few that
mappings of ERP data keep needing (`digits`, `len`, `round`, `min`, `max`, `abs`, `re`, `sum`, `any`, `all`,
`sorted`).

`field_references` reads an expression without running it, so a mapping that names a field the source
does not have fails when it is loaded, not on the first record.
"""

from __future__ import annotations

import ast
import datetime
import json
import re
from collections.abc import Iterator, Mapping
from hashlib import md5 as _md5
from hashlib import sha256 as _sha256
from typing import Any

import simpleeval

RECORD_NAMES = ("record", "_")
CONTEXT_NAMES = frozenset({*RECORD_NAMES, "__stream_name__", "None", "True", "False"})


def digits(value: Any) -> str | None:
    """Only the digits of a value (`'123.456.789-09'` → `'12345678909'`); None stays None."""
    if value is None:
        return None
    return "".join(char for char in str(value) if char.isdigit())


def _md5_text(value: Any) -> str:
    return _md5(str(value).encode()).hexdigest()


def _sha256_text(value: Any) -> str:
    return _sha256(str(value).encode()).hexdigest()


FUNCTIONS: dict[str, Any] = {
    **simpleeval.DEFAULT_FUNCTIONS,
    "md5": _md5_text,
    "sha256": _sha256_text,
    "datetime": simpleeval.ModuleWrapper(datetime),
    "json": simpleeval.ModuleWrapper(json),
    "re": simpleeval.ModuleWrapper(re),
    "bool": bool,
    "digits": digits,
    "len": len,
    "round": round,
    "min": min,
    "max": max,
    "abs": abs,
    "sum": sum,  # derive steps add and compare whole groups
    "any": any,
    "all": all,
    "sorted": sorted,
}


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    """simpleeval without its per-value scan for modules, as singer-sdk's `_MapperEval`: names hold only a
    JSON record and the functions above, whose modules are wrapped in `ModuleWrapper`."""

    def _check_disallowed_items(self, item: Any) -> None:
        return


class ExpressionError(Exception):
    """An expression could not be parsed or evaluated; the caller adds file, stream, record and field."""


class Expression:
    """One parsed expression, evaluated against many records."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self.tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"invalid expression {text!r}: {exc.msg}") from None
        self._evaluator = _Evaluator(functions=FUNCTIONS)

    def evaluate(self, record: Mapping[str, Any], stream: str) -> Any:
        names = dict(record)
        names["record"] = names["_"] = record
        names["__stream_name__"] = stream
        self._evaluator.names = names
        try:
            return self._evaluator.eval(self.text.strip(), previously_parsed=self.tree.body)
        except simpleeval.NameNotDefined as exc:
            raise ExpressionError(f"{exc} (the record has no such field)") from None
        except Exception as exc:  # an expression may fail in any way; the message says which and where
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def field_references(text: str) -> Iterator[tuple[str, ...]]:
    """Source field paths an expression reads: `nome` → ('nome',), `estoque['saldo']` → ('estoque', 'saldo').

    Names bound inside the expression (comprehension targets, lambda arguments) and function names are not
    fields; `record['x']` / `_['x']` / `record.get('x')` name the field `x`.
    """
    tree = ast.parse(text.strip(), mode="eval")
    bound = _bound_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            continue
        if node.id in bound or node.id in FUNCTIONS or node.id in CONTEXT_NAMES:
            continue
        yield (node.id, *_subscript_path(tree, node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_record(node.value):
            key = _constant_key(node.slice)
            if key is not None:
                yield (key, *_subscript_path(tree, node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _is_record(node.func.value)
            and node.args
        ):
            key = _constant_key(node.args[0])
            if key is not None:
                yield (key,)


def _is_record(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in RECORD_NAMES


def _constant_key(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _subscript_path(tree: ast.AST, start: ast.AST) -> tuple[str, ...]:
    """Constant string subscripts applied to `start` (`x['a']['b']` → ('a', 'b')), outermost last."""
    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    path: list[str] = []
    node = start
    while True:
        parent = parents.get(id(node))
        if not (isinstance(parent, ast.Subscript) and parent.value is node):
            return tuple(path)
        key = _constant_key(parent.slice)
        if key is None:
            return tuple(path)
        path.append(key)
        node = parent


def _bound_names(tree: ast.AST) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            bound.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Lambda):
            bound.update(arg.arg for arg in node.args.args)
    return bound
