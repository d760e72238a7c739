"""Verification codes: a keyed MAC (HMAC-SM3) over the certificate's id, content digest and expiry.

The code is the first 80 bits of the MAC in Crockford base32 (16 characters, printed in groups of four),
so it cannot be derived without the key, says nothing about how many certificates exist, and a
guessed code hits a valid one with probability about 2⁻⁸⁰ per try (tries are rate limited too).
Typing is forgiving: case, spaces, hyphens and the look-alikes O/I/L are normalised.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from hub.certificates.content import sm3

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 16
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_]+")
_VALID = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")


def _base32(data: bytes, length: int) -> str:
    """The first ``length`` base32 characters of ``data`` (which must hold at least 5 × length bits)."""
    bits = len(data) * 8
    if 5 * length > bits:
        raise ValueError(f"{len(data)} bytes cannot give {length} base32 characters")
    number = int.from_bytes(data, "big")
    return "".join(ALPHABET[(number >> (bits - 5 * (i + 1))) & 31] for i in range(length))


def new_certificate_id(now: datetime) -> str:
    """证明编号: ZM + issue date + 10 random base32 characters (50 bits), e.g. ZM20261127K3M9QX2V7D."""
    return f"ZM{now:%Y%m%d}{_base32(secrets.token_bytes(7), 10)}"


def mac_input(certificate_id: str, digest: bytes, expires_at: datetime) -> bytes:
    # Whole seconds since the epoch: independent of the time zone and precision a database hands back.
    expiry = str(int(expires_at.timestamp())).encode()
    return b"\x00".join((b"hub-certificate-v1", certificate_id.encode(), digest, expiry))


def make_code(key: str, certificate_id: str, digest: bytes, expires_at: datetime) -> str:
    mac = crypto_hmac.HMAC(key.encode(), hashes.SM3())
    mac.update(mac_input(certificate_id, digest, expires_at))
    return _base32(mac.finalize()[:10], CODE_LENGTH)


def code_matches(key: str, code: str, certificate_id: str, digest: bytes, expires_at: datetime) -> bool:
    """Constant-time check that ``code`` is the MAC of these values under ``key``."""
    return hmac.compare_digest(code, make_code(key, certificate_id, digest, expires_at))


def normalize(text: str) -> str | None:
    """The code in canonical form, or None when it cannot be a code (wrong length or characters)."""
    code = _SEPARATORS.sub("", text).upper().translate(_LOOK_ALIKES)
    return code if _VALID.fullmatch(code) else None


def display(code: str) -> str:
    """'K3M9-QX2V-7D0A-B1CE' for printing and reading aloud."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def lookup_key(code: str) -> bytes:
    """The DB index of a code: its SM3 digest, so a copy of the table does not list valid codes."""
    return sm3(b"hub-certificate-lookup\x00" + code.encode())
