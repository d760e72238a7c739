"""The agency's SM2 key pairs for packages of the offline version (``hub collect keygen``).

The private key is stored only sealed with SM4-GCM under a key derived from the key-encryption key of
the environment (``HUB_CRYPTO__KEK``), its fingerprint as additional data, like the other keys of the
hub; a process with another KEK says so instead of failing to open packages one by one. Older pairs stay
usable for packages made before a new one was published until they are retired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.collect import sm2
from hub.crypto import keys as crypto_keys
from hub.crypto.sm import SealBroken, hkdf_sm3, sm4_gcm_open, sm4_gcm_seal

PUBLIC_KEY_HEADER = "-----BEGIN HUB COLLECT SM2 PUBLIC KEY-----"
PUBLIC_KEY_FOOTER = "-----END HUB COLLECT SM2 PUBLIC KEY-----"


class KeysUnavailable(RuntimeError):
    """No key pair exists, or the stored ones do not open with the configured KEK."""


@dataclass(frozen=True)
class PublicKey:
    fingerprint: str
    public_key: str
    created_at: datetime

    def text(self) -> str:
        """The file handed to units (the offline version's ``--agency-key``)."""
        return f"{PUBLIC_KEY_HEADER}\n{self.public_key}\n{PUBLIC_KEY_FOOTER}\n"


def _seal_key(kek: str) -> bytes:
    return hkdf_sm3(kek.encode(), b"hub-collect-agency-key-v1")


def read_public_key_text(text: str) -> str:
    """The public key (hex) of a file written by ``PublicKey.text`` (or the bare hex)."""
    body = "".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----"))
    return sm2.check_public_key(body)


def create(conn: psycopg.Connection[Any], kek: str, *, created_by: str, now: datetime) -> PublicKey:
    """A new key pair; returns its public half. Never commits."""
    pair = sm2.generate()
    fp = sm2.fingerprint(pair.public_key)
    sealed = sm4_gcm_seal(_seal_key(kek), pair.private_key.encode(), f"hub.collect_key:{fp}".encode())
    conn.execute(
        "insert into hub.collect_key (fingerprint, public_key, private_sealed, kek_fingerprint, created_by, "
        "created_at) values (%s, %s, %s, %s, %s, %s)",
        (fp, pair.public_key, sealed, crypto_keys.fingerprint(kek), created_by, now),
    )
    return PublicKey(fp, pair.public_key, now)


def current(conn: psycopg.Connection[Any]) -> PublicKey:
    """The newest usable public key (the one to publish)."""
    row = conn.execute(
        "select fingerprint, public_key, created_at from hub.collect_key where retired_at is null "
        "order by created_at desc, fingerprint limit 1"
    ).fetchone()
    if row is None:
        raise KeysUnavailable("尚未生成数据采集密钥，请先运行 hub collect keygen")
    return PublicKey(str(row[0]), str(row[1]), row[2])


def key_pairs(conn: psycopg.Connection[Any], kek: str) -> list[tuple[str, str]]:
    """Every usable pair as (public, private) hex, for opening packages."""
    rows = conn.execute(
        "select fingerprint, public_key, private_sealed, kek_fingerprint from hub.collect_key where retired_at is null"
    ).fetchall()
    if not rows:
        raise KeysUnavailable("尚未生成数据采集密钥，请先运行 hub collect keygen")
    pairs = []
    for fp, public, sealed, kek_fp in rows:
        if kek_fp != crypto_keys.fingerprint(kek):
            raise KeysUnavailable("数据采集密钥与当前配置的密钥加密密钥（KEK）不符")
        try:
            private = sm4_gcm_open(_seal_key(kek), bytes(sealed), f"hub.collect_key:{fp}".encode()).decode()
        except SealBroken:
            raise KeysUnavailable("数据采集私钥无法解开") from None
        pairs.append((str(public), private))
    return pairs
