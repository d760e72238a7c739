"""SM4-GCM, HMAC-SM3 and HKDF-SM3 from `cryptography` (GB/T 32907, GB/T 32905; DOMAIN.md §6.3)."""

from __future__ import annotations

import hmac as std_hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 16  # SM4 has a 128-bit key
NONCE_BYTES = 12
TAG_BYTES = 16


class SealBroken(ValueError):
    """A sealed value does not open: wrong key, wrong context, or the bytes were changed."""


def sm4_gcm_seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """nonce ‖ ciphertext ‖ tag under ``key``; ``aad`` binds the value to its context (table, column, row)."""
    return _seal_with_nonce(key, os.urandom(NONCE_BYTES), plaintext, aad)


def _seal_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return nonce + body + enc.tag


def sm4_gcm_open(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise SealBroken("sealed value too short")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except Exception as exc:  # cryptography raises InvalidTag
        raise SealBroken("sealed value does not open") from exc


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def hkdf_sm3(secret: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    """A key derived from a secret of any length (the key-encryption key from the environment)."""
    return HKDF(algorithm=hashes.SM3(), length=length, salt=b"pension-hub", info=info).derive(secret)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return std_hmac.compare_digest(a, b)
