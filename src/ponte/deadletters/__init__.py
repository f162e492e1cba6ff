"""Dead letters: records a target could not deliver, kept in one store an operator can inspect and replay.

One store serves every target. `PostgresDeadLetterStore` uses the very table target-postgres already fills
(`<log_schema>.dead_letters`), adding the columns API targets need, so rejects of every target show up in
one place; `FileDeadLetterStore` keeps the same letters in a JSON Lines file for setups without a database.
"""

from __future__ import annotations

from ponte.deadletters.store import (
    STATUSES,
    DeadLetter,
    DeadLetterNotFound,
    DeadLetterStore,
    FileDeadLetterStore,
    PostgresDeadLetterStore,
    build_dead_letter_store,
)

__all__ = [
    "STATUSES",
    "DeadLetter",
    "DeadLetterNotFound",
    "DeadLetterStore",
    "FileDeadLetterStore",
    "PostgresDeadLetterStore",
    "build_dead_letter_store",
]
