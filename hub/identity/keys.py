"""Signing keys in the hub DB, private halves sealed with the key-encryption key from settings.

``rotate`` adds a new key; the newest key signs, and the ``keep`` newest keys are published in the JWKS,
so a token signed just before a rotation still verifies until it expires (5 minutes, far shorter than
any sane rotation period). Older keys are marked retired and leave the JWKS.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from joserfc.jwk import ECKey

from hub.audit import sync_writer as audit
from hub.identity.crypto import seal, unseal
from hub.identity.tokens import SigningKeys, new_key


class KeyDecryptionError(RuntimeError):
    """The key-encryption key in the settings does not open the stored private keys."""


def load(conn: psycopg.Connection[Any], kek: str, keep: int = 3) -> SigningKeys | None:
    """The live keys, newest first; None when the table holds none yet."""
    rows = conn.execute(
        "select kid, private_jwk from hub.signing_key where retired_at is null order by created_at desc, kid limit %s",
        (keep,),
    ).fetchall()
    if not rows:
        return None
    try:
        return SigningKeys(
            tuple(ECKey.import_key(json.loads(unseal(kek, bytes(row[1]), row[0].encode()))) for row in rows)
        )
    except InvalidTag:
        raise KeyDecryptionError(
            "the stored signing keys cannot be decrypted with HUB_AUTH__KEY_ENCRYPTION_KEY "
            "(wrong key, or keys made under another one: rotate after setting the right key)"
        ) from None


def rotate(conn: psycopg.Connection[Any], kek: str, now: datetime, keep: int = 3) -> str:
    """Add a new signing key and retire all but the ``keep`` newest; returns the new kid. Never commits."""
    key = new_key()
    kid = str(key.kid)
    private = json.dumps(key.as_dict(private=True)).encode()
    conn.execute(
        "insert into hub.signing_key (kid, created_at, private_jwk, public_jwk) values (%s, %s, %s, %s::jsonb)",
        (kid, now, seal(kek, private, kid.encode()), json.dumps(key.as_dict(private=False))),
    )
    conn.execute(
        "update hub.signing_key set retired_at = %s where retired_at is null and kid not in "
        "(select kid from hub.signing_key where retired_at is null order by created_at desc, kid limit %s)",
        (now, keep),
    )
    audit.event(
        conn, "keys.rotate", "ok", at=now, actor_kind="system", actor="", target_type="signing_key", target_id=kid
    )
    return kid


def ensure(conn: psycopg.Connection[Any], kek: str, now: datetime, keep: int = 3) -> SigningKeys:
    """The live keys, creating the first one if there is none (serialised by an advisory lock). Commits."""
    found = load(conn, kek, keep)
    if found is not None:
        return found
    conn.execute("select pg_advisory_xact_lock(hashtext('hub.signing_key'))")
    found = load(conn, kek, keep)
    if found is None:
        rotate(conn, kek, now, keep)
    conn.commit()
    found = load(conn, kek, keep)
    assert found is not None
    return found
