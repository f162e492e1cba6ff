"""Where OAuth2 tokens live between runs, shared by every process of a project.

APIs like Bling rotate the refresh token on every refresh and kill the old one at once, so two processes
(two accounts' streams, a tap and `ponte auth`, two Meltano jobs) must never spend the same refresh token:
whoever refreshes takes the key's lock, reloads the record (someone may have rotated it meanwhile) and saves
the new pair before releasing the lock. The store also keeps a log of token-endpoint calls so every process
sharing it stays under one rolling per-minute budget (Bling blocks the IP for an hour after 20 calls a minute).

Two stores: `FileTokenStore` (one JSON file, mode 0600, atomic replace, fcntl lock files beside it) and
`PostgresTokenStore` (a table, tokens Fernet-encrypted, `pg_advisory_lock` per key).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.errors import ConfigError
from ponte.core.file_lock import POLL_SECONDS, LockTimeout, file_lock
from ponte.core.private_files import private_folder, replace_file
from ponte.declaration.models import TokenStoreSpec

logger = logging.getLogger("ponte.auth")

DEFAULT_FILE_PATH = TokenStoreSpec.path
DEFAULT_TABLE = TokenStoreSpec.table
_CALL_LOG_CAP = 1000


class TokenLockTimeout(LockTimeout):
    """`lock(key, timeout=...)` gave up: another thread or process holds the key."""


@dataclass
class TokenRecord:
    """One access/refresh token pair. Times are epoch seconds."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: str | None = None
    updated_at: float = field(default_factory=time.time)

    @property
    def lifetime(self) -> float | None:
        """Seconds the access token was issued for; None when the record does not say when that was."""
        return self.expires_at - self.updated_at if self.updated_at else None

    def valid_for(self, seconds: float, now: float | None = None) -> bool:
        """True if the access token still lives more than `seconds`."""
        return bool(self.access_token) and self.expires_at - (time.time() if now is None else now) > seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenRecord:
        """Inverse of `to_dict`; unknown keys are ignored."""
        return cls(
            access_token=str(data.get("access_token") or ""),
            refresh_token=str(data["refresh_token"]) if data.get("refresh_token") else None,
            expires_at=float(data.get("expires_at") or 0),
            scope=str(data["scope"]) if data.get("scope") else None,
            updated_at=float(data.get("updated_at") or 0),
        )

    def secrets(self) -> list[str]:
        """The token values."""
        return [s for s in (self.access_token, self.refresh_token) if s]


def reserve_in_log(calls: list[float], limit: int, window: float, now: float) -> tuple[list[float], float]:
    """Sliding-window reservation on a list of call times: (the pruned log, 0.0 if `now` was added, else the wait)."""
    kept = sorted(t for t in calls if now - t < window)
    if len(kept) < limit:
        kept.append(now)
        return kept[-_CALL_LOG_CAP:], 0.0
    # the call may go once the oldest of the last `limit` calls leaves the window
    return kept[-_CALL_LOG_CAP:], max(kept[-limit] + window - now, 0.001)


class TokenStore:
    """What OAuth2Auth and `ponte auth` need from a store."""

    def load(self, key: str) -> TokenRecord | None:
        """The record saved under key, or None."""
        raise NotImplementedError

    def save(self, key: str, record: TokenRecord) -> None:
        """Persist record under key (durably, before returning)."""
        raise NotImplementedError

    def lock(self, key: str, timeout: float | None = None) -> contextlib.AbstractContextManager[None]:
        """Exclusive hold on key across threads and processes; TokenLockTimeout after `timeout` seconds."""
        raise NotImplementedError

    def reserve_token_call(self, limit: int, window: float = 60.0, now: float | None = None) -> float:
        """Count one token-endpoint call if fewer than `limit` happened in the last `window` seconds (0.0);
        otherwise count nothing and return how long to wait before asking again."""
        raise NotImplementedError

    def token_calls(self) -> list[float]:
        """Recorded token-endpoint call times (epoch seconds), oldest first."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the tokens are, for messages (no secrets)."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Values of the store's own configuration that must never be printed."""
        return []


# -- file -------------------------------------------------------------------------------------------------


def _safe_name(key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:60]
    return f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


class FileTokenStore(TokenStore):
    """All keys in one JSON file (mode 0600), replaced atomically; lock files beside it.

    `<file>.lock` guards read-modify-write of the file (held for milliseconds); `<file>.<key>.lock` is the
    per-key lock held across a refresh.
    """

    def __init__(self, path: str | Path = DEFAULT_FILE_PATH) -> None:
        self.path = Path(path)
        self._data_lock_path = self.path.with_name(self.path.name + ".lock")
        self._ready = False

    # -- files
    def _prepare(self) -> None:
        if self._ready:
            return
        private_folder(self.path.parent, "token store", "the token_store path")
        self._fix_mode()
        self._ready = True

    def _fix_mode(self) -> None:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return
        if mode & 0o077:
            os.chmod(self.path, 0o600)
            logger.warning("token store %s was readable by others (mode %03o); changed it to 0600", self.path, mode)

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise ConfigError(
                f"token store {self.path} is not valid JSON; restore it from a backup or delete it and run "
                "`ponte auth` again for each account"
            ) from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: Mapping[str, Any]) -> None:
        replace_file(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

    @contextlib.contextmanager
    def _mutate(self) -> Iterator[dict[str, Any]]:
        self._prepare()
        with file_lock(self._data_lock_path, None, f"token store {self.path}", TokenLockTimeout):
            data = self._read()
            yield data
            self._write(data)

    # -- TokenStore
    def load(self, key: str) -> TokenRecord | None:
        """The record saved under key, or None."""
        self._prepare()
        self._fix_mode()
        entry = (self._read().get("tokens") or {}).get(key)
        return TokenRecord.from_dict(entry) if isinstance(entry, dict) else None

    def save(self, key: str, record: TokenRecord) -> None:
        """Write the whole file anew (temp file, fsync, rename), other keys untouched."""
        with self._mutate() as data:
            data.setdefault("tokens", {})[key] = record.to_dict()

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float | None = None) -> Iterator[None]:
        """fcntl lock on `<file>.<key>.lock`."""
        self._prepare()
        path = self.path.with_name(f"{self.path.name}.{_safe_name(key)}.lock")
        with file_lock(path, timeout, f"token store key '{key}'", TokenLockTimeout):
            yield

    def reserve_token_call(self, limit: int, window: float = 60.0, now: float | None = None) -> float:
        """Sliding-window reservation in the file's `token_calls` list."""
        with self._mutate() as data:
            calls, wait = reserve_in_log(
                [float(t) for t in data.get("token_calls") or []], limit, window, time.time() if now is None else now
            )
            data["token_calls"] = calls
        return wait

    def token_calls(self) -> list[float]:
        """Recorded call times."""
        self._prepare()
        return sorted(float(t) for t in self._read().get("token_calls") or [])

    def describe(self) -> str:
        """`file <path>`."""
        return f"file {self.path}"


# -- postgres ---------------------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@functools.lru_cache(maxsize=8)
def _fernet_key(secret: str) -> bytes:
    """A Fernet key derived from any passphrase (PBKDF2-HMAC-SHA256, fixed salt: the key is the secret)."""
    raw = hashlib.pbkdf2_hmac("sha256", secret.encode(), b"ponte-elt token store v1", 200_000)
    return base64.urlsafe_b64encode(raw)


def _advisory_id(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big", signed=True)


class PostgresTokenStore(TokenStore):
    """Tokens in a Postgres table, encrypted with a Fernet key derived from `encryption_key`.

    Table `<schema>.<name>(key text primary key, ciphertext text, updated_at timestamptz)` and a call log
    `<schema>.<name>_calls(called_at double precision)`, both created on first use. The key lock is a
    session `pg_advisory_lock` held on a connection of its own for as long as the lock is held.
    """

    def __init__(self, dsn: str, table: str = DEFAULT_TABLE, encryption_key: str | None = None) -> None:
        if not dsn:
            raise ConfigError("token_store postgres needs a dsn (a Postgres connection string)")
        if not encryption_key:
            raise ConfigError(
                "token_store postgres needs an encryption_key: tokens are never written to the database in "
                "clear text; set one (a long random string) with your other secrets"
            )
        parts = table.split(".")
        if len(parts) == 1:
            parts = ["public", parts[0]]
        if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
            raise ConfigError(f"token_store table '{table}' must be `schema.table` (letters, digits, _)")
        from cryptography.fernet import Fernet

        self.dsn = dsn
        self.schema, self.table_name = parts
        self.table = f"{self.schema}.{self.table_name}"
        self._encryption_key = encryption_key
        self._fernet = Fernet(_fernet_key(encryption_key))
        self._ready = False
        self._ready_lock = threading.Lock()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=15, application_name="ponte tokens")
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot connect to the token store database ({self._where()}): {type(exc).__name__}; "
                "check token_store dsn"
            ) from None

    def _where(self) -> str:
        try:
            from psycopg.conninfo import conninfo_to_dict

            info = conninfo_to_dict(self.dsn)
        except Exception:
            return "dsn unreadable"
        host = info.get("host") or "local socket"
        port = f":{info['port']}" if info.get("port") else ""
        return f"{host}{port}/{info.get('dbname') or info.get('user') or '?'}"

    def _sql(self, template: str) -> Any:
        from psycopg import sql

        return sql.SQL(template).format(
            table=sql.Identifier(self.schema, self.table_name),
            calls=sql.Identifier(self.schema, self.table_name + "_calls"),
            schema=sql.Identifier(self.schema),
        )

    def _prepare(self, conn: Any) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            with conn.transaction():
                # concurrent CREATE ... IF NOT EXISTS can still collide: serialize them
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_advisory_id("ponte.token_store.ddl"),))
                conn.execute(self._sql("CREATE SCHEMA IF NOT EXISTS {schema}"))
                conn.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {table} (key text PRIMARY KEY, ciphertext text NOT NULL, "
                        "updated_at timestamptz NOT NULL DEFAULT now())"
                    )
                )
                conn.execute(self._sql("CREATE TABLE IF NOT EXISTS {calls} (called_at double precision NOT NULL)"))
            self._ready = True

    def load(self, key: str) -> TokenRecord | None:
        """Decrypt the record of key."""
        from cryptography.fernet import InvalidToken

        with self._connect() as conn:
            self._prepare(conn)
            row = conn.execute(self._sql("SELECT ciphertext FROM {table} WHERE key = %s"), (key,)).fetchone()
        if row is None:
            return None
        try:
            plain = self._fernet.decrypt(row[0].encode())
        except InvalidToken:
            raise ConfigError(
                f"cannot decrypt the tokens of '{key}' in {self.table}: encryption_key is not the one that "
                "saved them; restore that key, or authorize the account again"
            ) from None
        return TokenRecord.from_dict(json.loads(plain))

    def save(self, key: str, record: TokenRecord) -> None:
        """Encrypt and upsert."""
        token = self._fernet.encrypt(json.dumps(record.to_dict()).encode()).decode()
        with self._connect() as conn:
            self._prepare(conn)
            conn.execute(
                self._sql(
                    "INSERT INTO {table} (key, ciphertext, updated_at) VALUES (%s, %s, now()) "
                    "ON CONFLICT (key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()"
                ),
                (key, token),
            )

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float | None = None) -> Iterator[None]:
        """`pg_advisory_lock` on a hash of (table, key), on a connection opened for this hold only."""
        lock_id = _advisory_id("ponte.token_store", self.table, key)
        conn = self._connect()
        try:
            if timeout is None:
                conn.execute("SELECT pg_advisory_lock(%s)", (lock_id,))
            else:
                deadline = time.monotonic() + timeout
                while not conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()[0]:
                    if time.monotonic() >= deadline:
                        raise TokenLockTimeout(
                            f"token store key '{key}' is locked by another process; gave up after {timeout:g} s"
                        )
                    time.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
        finally:
            conn.close()

    def reserve_token_call(self, limit: int, window: float = 60.0, now: float | None = None) -> float:
        """Sliding window over the call log table, serialized by a transaction-level advisory lock."""
        now = time.time() if now is None else now
        with self._connect() as conn:
            self._prepare(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_advisory_id("ponte.token_calls", self.table),))
                conn.execute(self._sql("DELETE FROM {calls} WHERE called_at <= %s"), (now - window,))
                calls = [r[0] for r in conn.execute(self._sql("SELECT called_at FROM {calls}")).fetchall()]
                _kept, wait = reserve_in_log(calls, limit, window, now)
                if wait == 0.0:
                    conn.execute(self._sql("INSERT INTO {calls} (called_at) VALUES (%s)"), (now,))
        return wait

    def token_calls(self) -> list[float]:
        """Call times still in the log."""
        with self._connect() as conn:
            self._prepare(conn)
            return sorted(r[0] for r in conn.execute(self._sql("SELECT called_at FROM {calls}")).fetchall())

    def describe(self) -> str:
        """`postgres table <schema.table> on host:port/db` (never the password)."""
        return f"postgres table {self.table} on {self._where()} (encrypted)"

    def secrets(self) -> list[str]:
        """The encryption key and any password in the DSN."""
        found = [self._encryption_key]
        with contextlib.suppress(Exception):
            from psycopg.conninfo import conninfo_to_dict

            password = conninfo_to_dict(self.dsn).get("password")
            if password:
                found.append(str(password))
        return found


def build_token_store(spec: Mapping[str, Any] | TokenStoreSpec) -> TokenStore:
    """The store a rendered `token_store:` block declares (its defaults: `TokenStoreSpec`)."""
    store = spec if isinstance(spec, TokenStoreSpec) else TokenStoreSpec.from_mapping(spec, "token_store")
    if store.type == "file":
        return FileTokenStore(store.path)
    if store.type == "postgres":
        return PostgresTokenStore(str(store.dsn or ""), table=store.table, encryption_key=store.encryption_key)
    raise ConfigError(f"unknown token_store type '{store.type}'; expected file or postgres")
