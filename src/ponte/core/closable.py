"""A store that may hold a connection: `close()` releases it, and `with store:` closes it on the way out."""

from __future__ import annotations

from typing import Self


class Closable:
    """Base of the run-record stores (dead letters, job log): file backends have nothing to release."""

    def close(self) -> None:
        """Release resources (a database connection); nothing by default."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Closable"]
