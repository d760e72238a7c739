"""Where a process gets its keyrings: loaded from the database being read or written, cached per database.

The query store keeps its own wrapped keys (``public.crypto_key``), so the sync worker, the backfill
and the readers of the store or of any of its streaming replicas need nothing but the store itself and
the key-encryption key; the hub DB's columns use ``hub.crypto_key``. The KEK is set once per process
(``configure``, from ``HUB_CRYPTO__KEK``); without that call it is read from the settings.

A cached keyring is reloaded when an envelope names a data key it does not hold (after ``hub keys
rotate`` in another process) and, for writers, at most ``MAX_AGE`` seconds after it was loaded, so a
rotated-in active key is used for new envelopes soon after the rotation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.crypto import keys
from hub.crypto.fields import Keyring, key_id_of
from hub.crypto.sm import SealBroken

MAX_AGE = 60.0

_lock = threading.Lock()
_kek: dict[str, str] = {}  # "kek" -> the key-encryption key of this process
_known: dict[str, str] = {}  # fingerprint -> every KEK configured in this process (tests build several apps)
_cache: dict[tuple[str, str], tuple[float, Keyring]] = {}


def configure(kek: str) -> None:
    """Use ``kek`` to unwrap keys from now on (forgets the keyrings unwrapped under another one)."""
    with _lock:
        if kek != _kek.get("kek"):
            _cache.clear()
        _kek["kek"] = kek
        _known[keys.fingerprint(kek)] = kek


def kek() -> str:
    if "kek" not in _kek:
        from hub import settings as settings_mod

        configure(settings_mod.load().crypto.kek.get_secret_value())
    return _kek["kek"]


def _unwrap(rows: list[tuple[Any, ...]], table: str) -> Keyring | None:
    # The KEK whose fingerprint the rows carry when this process knows it; the current one otherwise
    # (which then refuses plainly). A deployment has one KEK per process.
    current = kek()
    chosen = _known.get(str(rows[0][3]), current) if rows else current
    return keys.build(rows, chosen, table)


def kek_of(conn: psycopg.Connection[Any], table: str) -> str:
    """The KEK to open ``table``'s keys with: the known one they were wrapped under, else the current one."""
    row = conn.execute(f"select kek_fingerprint from {table} limit 1").fetchone()
    return _known.get(str(row[0]), kek()) if row is not None else kek()


def _identity(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], table: str) -> tuple[str, str]:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}", table


def _cached(ident: tuple[str, str], max_age: float | None) -> Keyring | None:
    with _lock:
        hit = _cache.get(ident)
    if hit is None or (max_age is not None and time.monotonic() - hit[0] > max_age):
        return None
    return hit[1]


def _remember(ident: tuple[str, str], ring: Keyring) -> Keyring:
    with _lock:
        _cache[ident] = (time.monotonic(), ring)
    return ring


def _holds(ring: Keyring, envelopes: Iterable[bytes | None]) -> bool:
    try:
        return all(key_id_of(e) in ring.data_keys for e in envelopes if e is not None)
    except SealBroken:
        return True  # not an envelope at all: opening it will say so


def for_reading(conn: psycopg.Connection[Any], table: str, envelopes: Iterable[bytes | None] = ()) -> Keyring | None:
    """The keyring of the database ``conn`` is on (None: no keys there yet), holding the keys of ``envelopes``."""
    wanted = list(envelopes)
    ident = _identity(conn, table)
    ring = _cached(ident, None)
    if ring is not None and _holds(ring, wanted):
        return ring
    ring = _unwrap(conn.execute(keys.SELECT_KEYS.format(table)).fetchall(), table)
    return _remember(ident, ring) if ring is not None else None


async def for_reading_async(
    conn: psycopg.AsyncConnection[Any], table: str, envelopes: Iterable[bytes | None] = ()
) -> Keyring | None:
    """``for_reading`` on an async connection (the web process's pools)."""
    wanted = list(envelopes)
    ident = _identity(conn, table)
    ring = _cached(ident, None)
    if ring is not None and _holds(ring, wanted):
        return ring
    cur = await conn.execute(keys.SELECT_KEYS.format(table))
    ring = _unwrap(list(await cur.fetchall()), table)
    return _remember(ident, ring) if ring is not None else None


def for_writing(conn: psycopg.Connection[Any], table: str) -> Keyring:
    """The keyring to seal with, creating the first keys inside the caller's transaction. Never commits.

    Keys created in this (uncommitted) transaction are not cached: should it roll back, no envelope made
    with them survives either, and the next call creates or finds the committed ones.
    """
    ident = _identity(conn, table)
    ring = _cached(ident, MAX_AGE)
    if ring is not None:
        return ring
    found = _unwrap(conn.execute(keys.SELECT_KEYS.format(table)).fetchall(), table)
    if found is not None:
        return _remember(ident, found)
    return keys.create_in_transaction(conn, kek(), datetime.now(UTC), table)


async def for_writing_async(conn: psycopg.AsyncConnection[Any], table: str) -> Keyring | None:
    """The keyring to seal with on an async connection (None: no keys there yet; this never creates them).

    Cached like ``for_writing`` (reloaded at most ``MAX_AGE`` seconds after it was loaded).
    """
    ident = _identity(conn, table)
    ring = _cached(ident, MAX_AGE)
    if ring is not None:
        return ring
    cur = await conn.execute(keys.SELECT_KEYS.format(table))
    found = _unwrap(list(await cur.fetchall()), table)
    return _remember(ident, found) if found is not None else None


def forget() -> None:
    """Drop every cached keyring (after a rotation in this process)."""
    with _lock:
        _cache.clear()


def reset() -> None:
    """Forget the configured KEK too: the next use reads it from the settings again."""
    with _lock:
        _cache.clear()
        _kek.clear()
        _known.clear()
