"""The offline version's (单机版) unit key sealed under the operator's passphrase.

The SM2 private key that signs the unit's packages is kept in the clerk's SQLite file only as SM4-GCM under
a key derived from a passphrase with argon2id (argon2-cffi's ``hash_secret_raw``); the random salt and the
cost parameters are stored beside it, so a file sealed with other costs still opens. The additional data
names the key row (its id and public key): a sealed key copied onto another row, or next to another public
key, does not open. A wrong passphrase and a damaged value look the same to GCM; both are refused with one
message, and nothing of the key is ever written in clear.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import asdict, dataclass

from argon2.low_level import Type, hash_secret_raw

from hub.crypto.sm import KEY_BYTES, SealBroken, sm4_gcm_open, sm4_gcm_seal

MIN_PASSPHRASE_CHARS = 10
SALT_BYTES = 16
PASSPHRASE_ENV = "HUB_COLLECT_PASSPHRASE"  # noqa: S105 - a variable name; read by `hub collect serve/export` instead of the prompt


class PassphraseRefused(ValueError):
    """A new passphrase that cannot be used (too short, or the two entries differ)."""


class WrongPassphrase(ValueError):
    """The sealed key does not open with the passphrase given."""


WRONG = "口令不正确，无法解开本机数据文件中的单位签名私钥。请重新输入；如已遗忘口令，请联系经办机构"


@dataclass(frozen=True)
class KdfParams:
    """argon2id's inputs besides the passphrase (RFC 9106's second recommended set by default)."""

    salt: str  # hex
    time_cost: int = 3
    memory_cost: int = 64 * 1024  # KiB
    parallelism: int = 4
    algorithm: str = "argon2id"

    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def of(cls, text: str) -> KdfParams:
        data = json.loads(text)
        if data.get("algorithm") != "argon2id":
            raise WrongPassphrase("本机数据文件中的密钥派生参数无法识别")
        return cls(
            salt=str(data["salt"]),
            time_cost=int(data["time_cost"]),
            memory_cost=int(data["memory_cost"]),
            parallelism=int(data["parallelism"]),
        )

    @classmethod
    def fresh(cls) -> KdfParams:
        return cls(salt=os.urandom(SALT_BYTES).hex())


def check_new(passphrase: str, again: str | None = None) -> str:
    """A passphrase being set: at least ``MIN_PASSPHRASE_CHARS`` characters, typed the same twice."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS or not passphrase.strip():
        raise PassphraseRefused(f"口令至少需要{MIN_PASSPHRASE_CHARS}个字符")
    if again is not None and again != passphrase:
        raise PassphraseRefused("两次输入的口令不一致")
    return passphrase


def _key(passphrase: str, params: KdfParams) -> bytes:
    secret = unicodedata.normalize("NFC", passphrase).encode()
    return hash_secret_raw(
        secret,
        bytes.fromhex(params.salt),
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )


def seal(private_key: str, passphrase: str, aad: bytes, params: KdfParams | None = None) -> tuple[bytes, KdfParams]:
    """(sealed private key, the parameters to store beside it)."""
    params = params or KdfParams.fresh()
    return sm4_gcm_seal(_key(passphrase, params), private_key.encode(), aad), params


def unseal(sealed: bytes, params: KdfParams, passphrase: str, aad: bytes) -> str:
    """The private key (hex), or ``WrongPassphrase``."""
    try:
        return sm4_gcm_open(_key(passphrase, params), sealed, aad).decode()
    except (SealBroken, UnicodeDecodeError):
        raise WrongPassphrase(WRONG) from None
