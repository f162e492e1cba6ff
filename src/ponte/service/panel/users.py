"""Operator accounts of the panel (`<schema>.panel_users`, created with the service's tables): a name and an
argon2 hash of the password, never the password itself."""

from __future__ import annotations

import asyncio

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ponte.core.errors import ConfigError
from ponte.service.database import Tables, create_tables

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Checked when the name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("ponte-panel-no-such-user")


def add_user(dsn: str, schema: str, name: str, password: str) -> bool:
    """Create `name` or set its password; True when the account is new."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigError("the user name must have 1 to 100 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    tables = Tables(schema)
    asyncio.run(create_tables(dsn, tables))
    query = tables.q(
        "INSERT INTO {users} AS u (name, password_hash) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash RETURNING (xmax = 0)"
    )
    with psycopg.connect(dsn, autocommit=True, application_name="ponte panel") as conn:
        row = conn.execute(query, (name, _hasher.hash(password))).fetchone()
    return bool(row and row[0])


async def check_password(conn: psycopg.AsyncConnection, tables: Tables, name: str, password: str) -> bool:
    """Whether `password` is `name`'s; records the login when it is."""
    cur = await conn.execute(tables.q("SELECT password_hash FROM {users} WHERE name = %s"), (name,))
    row = await cur.fetchone()
    try:
        await asyncio.to_thread(_hasher.verify, row[0] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if row is None:
        return False
    await conn.execute(tables.q("UPDATE {users} SET last_login_at = now() WHERE name = %s"), (name,))
    return True
