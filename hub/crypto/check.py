"""Can this process unwrap the current keys of each database it uses? Checked at startup and by ``/readyz``.

A process started with another ``HUB_CRYPTO__KEK`` than the one that wrapped a database's keys would
otherwise start and then fail every read of a sealed column. So every process that opens envelopes
checks first — the web process the hub DB and the query store, the sync worker the query store, the
declarations and push workers both — and refuses to start with a message naming the database and the
key id (never a key). The check unwraps the active data key and the blind-index key of each database:
no plaintext is involved and it costs one query and two SM4-GCM opens per database. A database without
keys yet (or whose key table is not migrated yet) passes: the first writer creates them under this KEK.

The check uses exactly the KEK it is given (the process's own ``HUB_CRYPTO__KEK``), not the other KEKs
``hub.crypto.ring`` may remember in a process that built several apps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from hub import pg
from hub.crypto import keys
from hub.crypto.sm import SealBroken

CURRENT = "select key_id, purpose, wrapped, kek_fingerprint from {} where active or purpose = 'index' order by key_id"
EXISTS = "select to_regclass(%s) is not null"

HUB_DB = "hub DB"  # labels of the databases in messages
QUERY_STORE = "query store"

OTHER_KEK = "was wrapped under another key-encryption key than this process's HUB_CRYPTO__KEK"
ALTERED = "does not unwrap under HUB_CRYPTO__KEK although its fingerprint matches (the stored key was altered)"


@dataclass(frozen=True)
class KeyTrouble:
    """Why a database's current keys do not open: the key (None when one is missing) and the reason."""

    key_id: int | None
    purpose: str
    reason: str

    def key(self) -> str:
        name = "blind-index key" if self.purpose == keys.INDEX else "data key"
        return f"{name} {self.key_id}" if self.key_id is not None else name

    def summary(self) -> str:
        """One line for ``/readyz`` (no database name: the check's name says which)."""
        return f"{self.key()} {self.reason}"


class KeysUnusable(RuntimeError):
    """A database's current keys do not unwrap under this process's KEK: the process must not start."""

    def __init__(self, database: str, table: str, trouble: KeyTrouble) -> None:
        self.database = database
        self.table = table
        self.trouble = trouble
        super().__init__(
            f"refusing to start: {trouble.key()} of the {database} (table {table}) {trouble.reason}; "
            "set HUB_CRYPTO__KEK to the key-encryption key that wrapped it, "
            "or move the keys under this one with `hub keys rewrap`"
        )


def inspect(rows: Sequence[tuple[Any, ...]], kek: str, table: str) -> KeyTrouble | None:
    """The first problem of the current key rows (``CURRENT``) under ``kek``; None when each one unwraps."""
    if not rows:
        return None  # no keys yet: the first writer creates them under this KEK
    wanted = keys.fingerprint(kek)
    for key_id, purpose, wrapped, fingerprint in rows:
        if fingerprint != wanted:
            return KeyTrouble(int(key_id), str(purpose), OTHER_KEK)
        try:
            keys.unwrap(kek, int(key_id), str(purpose), bytes(wrapped), table)
        except SealBroken:
            return KeyTrouble(int(key_id), str(purpose), ALTERED)
    purposes = {str(r[1]) for r in rows}
    if keys.INDEX not in purposes:
        return KeyTrouble(None, keys.INDEX, "is missing (the key table has data keys but no blind-index key)")
    if keys.DATA not in purposes:
        return KeyTrouble(None, keys.DATA, "is missing (the key table has no active data key)")
    return None


def trouble(conn: psycopg.Connection[Any], kek: str, table: str) -> KeyTrouble | None:
    """``inspect`` of the current keys ``conn``'s database holds in ``table``."""
    exists = conn.execute(EXISTS, (table,)).fetchone()
    if exists is None or not exists[0]:
        return None  # not migrated yet: nothing is sealed there
    return inspect(conn.execute(CURRENT.format(table)).fetchall(), kek, table)


async def trouble_async(conn: psycopg.AsyncConnection[Any], kek: str, table: str) -> KeyTrouble | None:
    """``trouble`` on an async connection (the web process's pools and ``/readyz``)."""
    cur = await conn.execute(EXISTS, (table,))
    exists = await cur.fetchone()
    if exists is None or not exists[0]:
        return None
    cur = await conn.execute(CURRENT.format(table))
    return inspect(list(await cur.fetchall()), kek, table)


def describe(label: str, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> str:
    """``hub DB 127.0.0.1:5432/hub`` — the database's role and where it is, without user or password."""
    info = conn.info
    return f"{label} {info.host}:{info.port}/{info.dbname}"


def require(databases: Iterable[tuple[str, str, str]], kek: str) -> None:
    """Raise ``KeysUnusable`` unless ``kek`` unwraps the current keys of each ``(label, url, key table)``."""
    for label, url, table in databases:
        with pg.connect(url, autocommit=True) as conn:
            found = trouble(conn, kek, table)
            if found is not None:
                raise KeysUnusable(describe(label, conn), table, found)


async def require_async(label: str, conn: psycopg.AsyncConnection[Any], kek: str, table: str) -> None:
    """``require`` for one database on an async connection."""
    found = await trouble_async(conn, kek, table)
    if found is not None:
        raise KeysUnusable(describe(label, conn), table, found)
