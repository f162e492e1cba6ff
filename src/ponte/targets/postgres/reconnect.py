"""What the loader does when PostgreSQL goes away mid-run: a restart, a failover, an idle timeout, a cut network.

A lost connection is told apart from a statement PostgreSQL refused by the connection's own state (`broken`,
`closed`) or a connection-class SQLSTATE. The loader then waits (exponential backoff with jitter, a bounded
number of times), reconnects and repeats what was not committed: a sink replays its open batch from the spill
file, the run log repeats its statement (each one is idempotent). A COMMIT that was sent but never answered
is in doubt; `txid_status` of its transaction, asked on the new connection, says whether it landed, so a
batch is never committed twice. When the attempts run out, `DatabaseUnavailable` stops the load with one line.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ponte.core.errors import PonteError
from ponte.http.retry_policy import RetryPolicy

logger = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 6
DEFAULT_BACKOFF_SECONDS = 1.0
MAX_WAIT_SECONDS = 30.0
# 57P01 admin shutdown (pg_terminate_backend, a fast shutdown), 57P02 crash shutdown, 57P03 cannot connect now
# (starting up or shutting down), 57P05 idle_session_timeout; class 08 is "connection exception".
_LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05"})
_IN_DOUBT_PATIENCE_SECONDS = 10.0
_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')


class DatabaseUnavailable(PonteError):
    """PostgreSQL could not be reached, or stayed unreachable through every reconnection attempt."""


def first_line(error: BaseException) -> str:
    """The error's first line, whitespace collapsed (libpq adds hints on the lines after it)."""
    lines = str(error).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(error).__name__


def is_connection_lost(error: BaseException, conn: psycopg.Connection | None) -> bool:
    """True when `error` means the connection is gone (or, with `conn` None, could not be opened)."""
    if not isinstance(error, psycopg.Error):
        return False
    if conn is not None and (conn.broken or conn.closed):
        return True
    state = error.sqlstate
    if state:
        return state.startswith("08") or state in _LOST_SQLSTATES
    return conn is None and isinstance(error, psycopg.OperationalError)


def connect_failure(error: BaseException, conninfo: str, who: str = "target-postgres") -> str:
    """One line saying why the first connection failed and what to do; a missing database names the command
    that creates it (a newcomer's first run meets that before anything else)."""
    found = _MISSING_DATABASE.search(str(error))
    if found is None:
        return (
            f"{who}: cannot connect to PostgreSQL ({first_line(error)}); check the connection settings "
            "(dsn, or host, port, user, password, database) and that the server is running"
        )
    name = found.group("name")
    parts = conninfo_to_dict(conninfo)
    host, port, user = parts.get("host") or "localhost", parts.get("port") or "5432", parts.get("user")
    createdb = f"createdb -h {host} -p {port}{f' -U {user}' if user else ''} {name}"
    return (
        f"{who}: database '{name}' does not exist on {host}:{port} — create it once with `ponte db create` (run in "
        f"the project) or `{createdb}`, or set TARGET_POSTGRES_DATABASE to a database that exists"
    )


def connect_first(conninfo: str, *, autocommit: bool) -> psycopg.Connection:
    """The run's first connection: one attempt, since failing here means wrong settings or a server that is
    down, and either is better reported at once than after a minute of retries."""
    try:
        return psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(connect_failure(exc, conninfo)) from None


@dataclass(frozen=True)
class Reconnect:
    """How many times, and how patiently, to reconnect after losing a connection."""

    attempts: int = DEFAULT_ATTEMPTS
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS

    def pause(self, failures: int, what: str, error: BaseException, then: str = "") -> None:
        """Wait before reconnection attempt number `failures` (1-based), or raise when the attempts are spent."""
        if failures > self.attempts:
            tried = (
                f"could not get it back after {self.attempts} attempt{'s' if self.attempts != 1 else ''}"
                if self.attempts
                else "reconnect_attempts is 0"
            )
            raise DatabaseUnavailable(
                f"target-postgres: {what}: lost the connection to PostgreSQL and {tried} ({first_line(error)}); "
                "what was not committed was rolled back and STATE covers only committed records, so run the "
                "pipeline again once the database is reachable"
            )
        # should not pay for importing the HTTP client's package

        wait = RetryPolicy(base_seconds=self.backoff_seconds, max_seconds=MAX_WAIT_SECONDS).backoff(failures)
        logger.warning(
            "%s: connection to PostgreSQL lost (%s); reconnecting in %.1f s (attempt %d of %d)%s",
            what,
            first_line(error),
            wait,
            failures,
            self.attempts,
            then,
        )
        time.sleep(wait)


def _status(conn: psycopg.Connection, xid: int) -> str | None:
    return conn.execute("SELECT txid_status(%s)", (xid,)).fetchone()[0]


def commit_landed(conn: psycopg.Connection, xid: int, backend_pid: int, what: str) -> bool:
    """Whether transaction `xid`, whose COMMIT was sent on a connection lost before the answer came, committed.

    If its old session is still alive on the server (a cut it has not noticed yet), that session is ended
    first, so the answer cannot change after we act on it.
    """
    try:
        status = _status(conn, xid)
        deadline = time.monotonic() + _IN_DOUBT_PATIENCE_SECONDS
        while status == "in progress" and time.monotonic() < deadline:
            if conn.info.server_version >= 140000:  # waits for the session to end
                conn.execute("SELECT pg_terminate_backend(%s, %s)", (backend_pid, 1000))
            else:
                conn.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
                time.sleep(0.1)
            status = _status(conn, xid)
    finally:
        conn.rollback()
    if status not in ("committed", "aborted"):
        raise DatabaseUnavailable(
            f"target-postgres: {what}: the connection was lost while committing and PostgreSQL cannot say "
            f"whether that commit landed (transaction {xid} is {status or 'unknown'}), so the batch was not loaded "
            "again; check whether its rows are in the table, then run the pipeline again"
        )
    return status == "committed"
