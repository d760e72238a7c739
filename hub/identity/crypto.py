"""Keyed hashes and encryption at rest for the identity service.

- ``keyed_hash``: HMAC-SHA256 under a server key, for SMS codes, refresh tokens, authorization codes
  and the blind index of document numbers (a stolen table yields no code, token or ID number).
- ``seal``/``unseal``: AES-256-GCM for the private signing keys and TOTP secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def keyed_hash(key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value``, domain-separated by ``purpose``; hex."""
    return hmac.new(key.encode(), f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _aes_key(key: str) -> bytes:
    return hashlib.sha256(b"hub-identity-seal\x00" + key.encode()).digest()


def seal(key: str, plaintext: bytes, associated: bytes = b"") -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_aes_key(key)).encrypt(nonce, plaintext, associated)


def unseal(key: str, sealed: bytes, associated: bytes = b"") -> bytes:
    return AESGCM(_aes_key(key)).decrypt(sealed[:12], sealed[12:], associated)
