"""Plugin settings saved in the panel's Connections page: table `settings` of the service's schema, one row per
plugin and setting, the value encrypted with a Fernet key derived from PONTE_SECRET_KEY.

The key is derived with HKDF-SHA256 under its own `info`, so the key that signs the panel's session cookies and the
key that encrypts these values differ even though one secret feeds both. Each ciphertext also holds the plugin and
setting it belongs to, so a row copied onto another setting does not decrypt as that setting. Runs get the values
as the environment variables Meltano reads (`TAP_SIENGE_PASSWORD`), over `.env` and the service's environment.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from psycopg.rows import dict_row

from ponte.core.errors import ConfigError
from ponte.service.database import Tables, connect

HKDF_SALT = b"ponte.service.connection_settings"
HKDF_INFO = b"ponte panel settings fernet v1"


class SettingUndecryptable(ConfigError):
    """A saved value does not decrypt with the current PONTE_SECRET_KEY (the key changed, or the row was edited)."""


def env_name(plugin: str, setting: str) -> str:
    """The variable Meltano reads for a plugin's setting: `tap-sienge`, `password` → `TAP_SIENGE_PASSWORD`."""
    return re.sub(r"[^A-Za-z0-9]", "_", plugin).upper() + "_" + re.sub(r"[^A-Za-z0-9]", "_", setting).upper()


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret_key: str | None, plugin: str, setting: str, value: str) -> str:
    """The ciphertext of `value`, bound to its plugin and setting."""
    if not secret_key:
        raise ConfigError("PONTE_SECRET_KEY is not set: the panel cannot save settings without it")
    payload = json.dumps({"plugin": plugin, "name": setting, "value": value}).encode()
    return _fernet(secret_key).encrypt(payload).decode()


def decrypt(secret_key: str | None, plugin: str, setting: str, ciphertext: str) -> str:
    """The value; SettingUndecryptable (naming the setting, never the value) when the key or the row is wrong."""
    if not secret_key:
        raise SettingUndecryptable(
            f"{plugin} setting '{setting}' was saved in the panel, encrypted, and PONTE_SECRET_KEY is not set: set "
            "the key it was saved with, or remove the value (DELETE FROM <schema>.settings)"
        )
    try:
        data = json.loads(_fernet(secret_key).decrypt(ciphertext.encode()))
        if data.get("plugin") != plugin or data.get("name") != setting:
            raise InvalidToken
        return str(data["value"])
    except (InvalidToken, ValueError, KeyError, AttributeError):
        raise SettingUndecryptable(
            f"the value of {plugin} setting '{setting}' saved in the panel cannot be decrypted with the current "
            "PONTE_SECRET_KEY (was the key changed?): type it again in the panel (Conexões) or remove it"
        ) from None


@dataclass(frozen=True)
class SavedSetting:
    """A saved value's row without the value: what the panel may show of a sensitive setting."""

    plugin: str
    name: str
    updated_at: datetime
    updated_by: str | None


class ConnectionSettings:
    """The `settings` table of one service: save, remove, list and decrypt the panel's values."""

    def __init__(self, dsn: str, tables: Tables, secret_key: str | None) -> None:
        """`secret_key` None (PONTE_SECRET_KEY unset): nothing can be saved and a saved value is an error."""
        self.dsn = dsn
        self.tables = tables
        self.secret_key = secret_key

    async def save(self, plugin: str, values: Mapping[str, str], user: str | None) -> None:
        """Store `values` (setting name → text as its environment variable would hold it), encrypted, at once."""
        if not values:
            return
        query = self.tables.q(
            "INSERT INTO {settings} (plugin, name, ciphertext, updated_at, updated_by) VALUES (%s, %s, %s, now(), %s) "
            "ON CONFLICT (plugin, name) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, "
            "updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by"
        )
        rows = [(plugin, name, encrypt(self.secret_key, plugin, name, value), user) for name, value in values.items()]
        async with await connect(self.dsn) as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(query, rows)

    async def remove(self, plugin: str, name: str) -> bool:
        """Forget a saved value (the setting falls back to .env, meltano.yml or its default); False if none was."""
        async with await connect(self.dsn) as conn:
            cur = await conn.execute(
                self.tables.q("DELETE FROM {settings} WHERE plugin = %s AND name = %s"), (plugin, name)
            )
            return cur.rowcount > 0

    async def saved(self, plugin: str | None = None) -> dict[str, dict[str, SavedSetting]]:
        """plugin → setting → its row (no value), for every saved setting or only `plugin`'s."""
        query = "SELECT plugin, name, updated_at, updated_by FROM {settings}"
        async with await connect(self.dsn) as conn:
            conn.row_factory = dict_row
            if plugin is None:
                cur = await conn.execute(self.tables.q(query))
            else:
                cur = await conn.execute(self.tables.q(query + " WHERE plugin = %s"), (plugin,))
            rows = await cur.fetchall()
        found: dict[str, dict[str, SavedSetting]] = {}
        for row in rows:
            found.setdefault(row["plugin"], {})[row["name"]] = SavedSetting(**row)
        return found

    async def values(self, plugin: str | None = None) -> dict[str, dict[str, str]]:
        """plugin → setting → decrypted value; SettingUndecryptable on the first value the key cannot open."""
        query = "SELECT plugin, name, ciphertext FROM {settings}"
        async with await connect(self.dsn) as conn:
            if plugin is None:
                cur = await conn.execute(self.tables.q(query + " ORDER BY plugin, name"))
            else:
                cur = await conn.execute(self.tables.q(query + " WHERE plugin = %s ORDER BY name"), (plugin,))
            rows = await cur.fetchall()
        found: dict[str, dict[str, str]] = {}
        for owner, name, ciphertext in rows:
            found.setdefault(owner, {})[name] = decrypt(self.secret_key, owner, name, ciphertext)
        return found

    async def read(self, plugin: str) -> tuple[dict[str, str], dict[str, str]]:
        """`plugin`'s values that decrypt, and the message of each one that does not (for a page that must open)."""
        async with await connect(self.dsn) as conn:
            cur = await conn.execute(
                self.tables.q("SELECT name, ciphertext FROM {settings} WHERE plugin = %s"), (plugin,)
            )
            rows = await cur.fetchall()
        values: dict[str, str] = {}
        errors: dict[str, str] = {}
        for name, ciphertext in rows:
            try:
                values[name] = decrypt(self.secret_key, plugin, name, ciphertext)
            except SettingUndecryptable as exc:
                errors[name] = str(exc)
        return values, errors

    async def environment(self) -> dict[str, str]:
        """Every saved value as the environment variable Meltano reads for it (what a run gets)."""
        return {
            env_name(plugin, name): value
            for plugin, settings in (await self.values()).items()
            for name, value in settings.items()
        }


def for_service(service: Any) -> ConnectionSettings:
    """The store of a running service (`ponte.service.app.Service`): its database, schema and key, if one is set."""
    key = service.settings.secret_key if service.settings.secret_key_set else None
    return ConnectionSettings(service.dsn, service.tables, key)
