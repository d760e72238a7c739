"""Data keys and the blind-index key in the hub DB, wrapped (SM4-GCM) under the key-encryption key.

The key-encryption key (KEK) comes from the environment (``HUB_CRYPTO__KEK``) and never reaches the
database; only its fingerprint does, so a process started with the wrong KEK says so plainly instead of
failing on the first decrypt. ``rotate_data_key`` adds a new active data key (old ones stay to open
older envelopes until ``hub keys rotate`` has re-encrypted every registered column); ``rewrap`` moves
every key under a new KEK in one transaction.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import psycopg

from hub.crypto.fields import Keyring
from hub.crypto.sm import KEY_BYTES, SealBroken, hkdf_sm3, hmac_sm3, sm4_gcm_open, sm4_gcm_seal

DATA = "data"
INDEX = "index"
HUB_TABLE = "hub.crypto_key"  # keys of the hub DB's encrypted columns
QUERY_TABLE = "public.crypto_key"  # keys of the query store's (streamed to its replicas with the data)


class KeyringUnavailable(RuntimeError):
    """The keys cannot be opened with the configured KEK (or none exist yet where they must)."""


def _kek_key(kek: str) -> bytes:
    return hkdf_sm3(kek.encode(), b"hub-crypto-kek-v1")


def fingerprint(kek: str) -> str:
    return hmac_sm3(_kek_key(kek), b"fingerprint").hex()[:16]


def _context(key_id: int, purpose: str, table: str) -> bytes:
    # A wrapped key is bound to its table, id and purpose (the hub DB's keys keep their original context).
    name = "hub.crypto_key" if table == HUB_TABLE else table
    return f"{name}:{key_id}:{purpose}".encode()


def unwrap(kek: str, key_id: int, purpose: str, wrapped: bytes, table: str = HUB_TABLE) -> bytes:
    """One stored key opened under ``kek`` (``SealBroken`` when it does not open)."""
    return sm4_gcm_open(_kek_key(kek), bytes(wrapped), _context(key_id, purpose, table))


def _insert(conn: psycopg.Connection[Any], kek: str, purpose: str, now: datetime, table: str) -> int:
    row = conn.execute(f"select nextval('{table}_key_id_seq')").fetchone()
    assert row is not None
    key_id = int(row[0])
    wrapped = sm4_gcm_seal(_kek_key(kek), os.urandom(KEY_BYTES), _context(key_id, purpose, table))
    conn.execute(
        f"insert into {table} (key_id, purpose, wrapped, kek_fingerprint, created_at) values (%s, %s, %s, %s, %s)",
        (key_id, purpose, wrapped, fingerprint(kek), now),
    )
    return key_id


SELECT_KEYS = "select key_id, purpose, wrapped, kek_fingerprint, active from {} order by key_id"


def load(conn: psycopg.Connection[Any], kek: str, table: str = HUB_TABLE) -> Keyring | None:
    """The keyring, or None when no key exists yet."""
    return build(conn.execute(SELECT_KEYS.format(table)).fetchall(), kek, table)


def build(rows: list[tuple[Any, ...]], kek: str, table: str = HUB_TABLE) -> Keyring | None:
    """The keyring from the rows of a key table (``SELECT_KEYS``), or None when there are none."""
    if not rows:
        return None
    wanted = fingerprint(kek)
    if any(r[3] != wanted for r in rows):
        raise KeyringUnavailable(
            "the data keys were wrapped under another key-encryption key than HUB_CRYPTO__KEK "
            "(set the right one, or move them with `hub keys rewrap`)"
        )
    data: dict[int, bytes] = {}
    index_key: bytes | None = None
    active: int | None = None
    try:
        for key_id, purpose, wrapped, _fp, is_active in rows:
            key = unwrap(kek, key_id, purpose, wrapped, table)
            if purpose == INDEX:
                index_key = key
            else:
                data[key_id] = key
                if is_active:
                    active = key_id
    except SealBroken as exc:
        raise KeyringUnavailable("a stored key does not open: the key table was altered") from exc
    if index_key is None or active is None:
        raise KeyringUnavailable("the key table has no blind-index key or no active data key")
    return Keyring(data, active, index_key)


def ensure(conn: psycopg.Connection[Any], kek: str, now: datetime, table: str = HUB_TABLE) -> Keyring:
    """The keyring, creating the index key and the first data key if there are none. Commits."""
    found = load(conn, kek, table)
    if found is not None:
        return found
    create_in_transaction(conn, kek, now, table)
    conn.commit()
    found = load(conn, kek, table)
    assert found is not None
    return found


def create_in_transaction(conn: psycopg.Connection[Any], kek: str, now: datetime, table: str = HUB_TABLE) -> Keyring:
    """The keyring, creating the first keys inside the caller's transaction if there are none. Never commits.

    Concurrent creators queue on a transaction lock and the later ones find the earlier one's keys.
    """
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (table,))
    found = load(conn, kek, table)
    if found is not None:
        return found
    _insert(conn, kek, INDEX, now, table)
    key_id = _insert(conn, kek, DATA, now, table)
    conn.execute(f"update {table} set active = true where key_id = %s", (key_id,))
    found = load(conn, kek, table)
    assert found is not None
    return found


def rotate_data_key(conn: psycopg.Connection[Any], kek: str, now: datetime, table: str = HUB_TABLE) -> int:
    """A new active data key; the old ones stay for opening older envelopes. Never commits."""
    if load(conn, kek, table) is None:
        raise KeyringUnavailable("no keys yet: start the hub once (or run `hub keys status`) to create them")
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (table,))
    key_id = _insert(conn, kek, DATA, now, table)
    conn.execute(f"update {table} set active = false where purpose = 'data' and active")
    conn.execute(f"update {table} set active = true where key_id = %s", (key_id,))
    return key_id


def retire_unused(conn: psycopg.Connection[Any], in_use: set[int], now: datetime, table: str = HUB_TABLE) -> list[int]:
    """Mark data keys that no registered column uses any more as retired (kept, for restored backups)."""
    rows = conn.execute(
        f"update {table} set retired_at = %s where purpose = 'data' and not active "
        "and retired_at is null and not (key_id = any(%s)) returning key_id",
        (now, list(in_use)),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def rewrap(conn: psycopg.Connection[Any], old_kek: str, new_kek: str, table: str = HUB_TABLE) -> int:
    """Re-wrap every key under ``new_kek`` in one transaction (the data itself is untouched). Never commits."""
    left = conn.execute(f"select count(*) from {table} where kek_fingerprint <> %s", (fingerprint(new_kek),)).fetchone()
    if left is not None and left[0] == 0:
        return 0  # none yet, or already moved (a rerun after a partial failure)
    if load(conn, old_kek, table) is None:
        return 0
    rows = conn.execute(f"select key_id, purpose, wrapped from {table} for update").fetchall()
    for key_id, purpose, wrapped in rows:
        key = unwrap(old_kek, key_id, purpose, wrapped, table)
        conn.execute(
            f"update {table} set wrapped = %s, kek_fingerprint = %s where key_id = %s",
            (sm4_gcm_seal(_kek_key(new_kek), key, _context(key_id, purpose, table)), fingerprint(new_kek), key_id),
        )
    return len(rows)
