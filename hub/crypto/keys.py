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


class KeyringUnavailable(RuntimeError):
    """The keys cannot be opened with the configured KEK (or none exist yet where they must)."""


def _kek_key(kek: str) -> bytes:
    return hkdf_sm3(kek.encode(), b"hub-crypto-kek-v1")


def fingerprint(kek: str) -> str:
    return hmac_sm3(_kek_key(kek), b"fingerprint").hex()[:16]


def _context(key_id: int, purpose: str) -> bytes:
    return f"hub.crypto_key:{key_id}:{purpose}".encode()


def _insert(conn: psycopg.Connection[Any], kek: str, purpose: str, now: datetime) -> int:
    row = conn.execute("select nextval('hub.crypto_key_key_id_seq')").fetchone()
    assert row is not None
    key_id = int(row[0])
    wrapped = sm4_gcm_seal(_kek_key(kek), os.urandom(KEY_BYTES), _context(key_id, purpose))
    conn.execute(
        "insert into hub.crypto_key (key_id, purpose, wrapped, kek_fingerprint, created_at) "
        "values (%s, %s, %s, %s, %s)",
        (key_id, purpose, wrapped, fingerprint(kek), now),
    )
    return key_id


def load(conn: psycopg.Connection[Any], kek: str) -> Keyring | None:
    """The keyring, or None when no key exists yet."""
    rows = conn.execute(
        "select key_id, purpose, wrapped, kek_fingerprint, active from hub.crypto_key order by key_id"
    ).fetchall()
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
            key = sm4_gcm_open(_kek_key(kek), bytes(wrapped), _context(key_id, purpose))
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


def ensure(conn: psycopg.Connection[Any], kek: str, now: datetime) -> Keyring:
    """The keyring, creating the index key and the first data key if there are none. Commits."""
    found = load(conn, kek)
    if found is not None:
        return found
    conn.execute("select pg_advisory_xact_lock(hashtext('hub.crypto_key'))")
    if load(conn, kek) is None:
        _insert(conn, kek, INDEX, now)
        key_id = _insert(conn, kek, DATA, now)
        conn.execute("update hub.crypto_key set active = true where key_id = %s", (key_id,))
    conn.commit()
    found = load(conn, kek)
    assert found is not None
    return found


def rotate_data_key(conn: psycopg.Connection[Any], kek: str, now: datetime) -> int:
    """A new active data key; the old ones stay for opening older envelopes. Never commits."""
    if load(conn, kek) is None:
        raise KeyringUnavailable("no keys yet: start the hub once (or run `hub keys status`) to create them")
    conn.execute("select pg_advisory_xact_lock(hashtext('hub.crypto_key'))")
    key_id = _insert(conn, kek, DATA, now)
    conn.execute("update hub.crypto_key set active = false where purpose = 'data' and active")
    conn.execute("update hub.crypto_key set active = true where key_id = %s", (key_id,))
    return key_id


def retire_unused(conn: psycopg.Connection[Any], in_use: set[int], now: datetime) -> list[int]:
    """Mark data keys that no registered column uses any more as retired (kept, for restored backups)."""
    rows = conn.execute(
        "update hub.crypto_key set retired_at = %s where purpose = 'data' and not active "
        "and retired_at is null and not (key_id = any(%s)) returning key_id",
        (now, list(in_use)),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def rewrap(conn: psycopg.Connection[Any], old_kek: str, new_kek: str) -> int:
    """Re-wrap every key under ``new_kek`` in one transaction (the data itself is untouched). Never commits."""
    if load(conn, old_kek) is None:
        return 0
    rows = conn.execute("select key_id, purpose, wrapped from hub.crypto_key for update").fetchall()
    for key_id, purpose, wrapped in rows:
        key = sm4_gcm_open(_kek_key(old_kek), bytes(wrapped), _context(key_id, purpose))
        conn.execute(
            "update hub.crypto_key set wrapped = %s, kek_fingerprint = %s where key_id = %s",
            (sm4_gcm_seal(_kek_key(new_kek), key, _context(key_id, purpose)), fingerprint(new_kek), key_id),
        )
    return len(rows)
