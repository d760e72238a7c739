"""SM2 (GB/T 32918) key pairs, encryption of a content key and signatures, over gmssl's curve arithmetic.

gmssl 3.2.2 is used for the curve and the SM3 key derivation only. Three of its defaults are replaced:
its nonces come from ``random`` (not a cryptographic generator), so encryption and signing here draw
theirs from ``secrets``; its decryption does not check C3 (the SM3 of x2 ‖ M ‖ y2), which is checked here;
and its constructor strips a leading "04" with ``str.lstrip`` (which also eats following 0 and 4 digits),
so the public key is set after construction. Ciphertexts are C1 ‖ C3 ‖ C2 (the current standard order),
signatures r ‖ s with the default user id 1234567812345678 over SM3(Z ‖ M).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gmssl import sm2 as _sm2
from gmssl import sm3 as _sm3

_N = int(_sm2.default_ecc_table["n"], 16)
_HEX = 64  # one coordinate in hex


class Sm2Error(ValueError):
    """A key, ciphertext or signature that does not work."""


@dataclass(frozen=True)
class KeyPair:
    private_key: str  # 64 hex digits
    public_key: str  # 128 hex digits (x ‖ y, uncompressed without the 04 prefix)


def _crypt(private_key: str, public_key: str) -> _sm2.CryptSM2:
    crypt = _sm2.CryptSM2(private_key=private_key, public_key="", mode=1)
    crypt.public_key = public_key
    return crypt


def _scalar() -> int:
    return secrets.randbelow(_N - 2) + 1


def check_public_key(public_key: str) -> str:
    key = public_key.strip().lower()
    if key.startswith("04") and len(key) == 2 * _HEX + 2:
        key = key[2:]
    if len(key) != 2 * _HEX or any(c not in "0123456789abcdef" for c in key):
        raise Sm2Error("SM2公钥格式不正确")
    x, y = int(key[:_HEX], 16), int(key[_HEX:], 16)
    p = int(_sm2.default_ecc_table["p"], 16)
    a = int(_sm2.default_ecc_table["a"], 16)
    b = int(_sm2.default_ecc_table["b"], 16)
    if (y * y - (x * x * x + a * x + b)) % p != 0:
        raise Sm2Error("SM2公钥不在曲线上")
    return key


def generate() -> KeyPair:
    d = _scalar()
    private = f"{d:064x}"
    crypt = _crypt(private, "")
    public = crypt._kg(d, _sm2.default_ecc_table["g"])
    return KeyPair(private, public)


def fingerprint(public_key: str) -> str:
    """SM3 of the public key (hex), shortened: names a key in a package header and on paper."""
    return hashlib.new("sm3", bytes.fromhex(check_public_key(public_key))).hexdigest()[:32]


def encrypt(public_key: str, data: bytes) -> bytes:
    key = check_public_key(public_key)
    crypt = _crypt("", key)
    k = _scalar()
    c1 = crypt._kg(k, crypt.ecc_table["g"])
    xy = crypt._kg(k, key)
    t = bytes.fromhex(_sm3.sm3_kdf(xy.encode("utf8"), len(data)))
    if not any(t):
        raise Sm2Error("SM2加密失败，请重试")
    c2 = bytes(m ^ s for m, s in zip(data, t, strict=True))
    c3 = hashlib.new("sm3", bytes.fromhex(xy[:_HEX]) + data + bytes.fromhex(xy[_HEX:])).digest()
    return bytes.fromhex(c1) + c3 + c2


def decrypt(private_key: str, data: bytes) -> bytes:
    if len(data) <= 64 + 32:
        raise Sm2Error("SM2密文过短")
    c1, c3, c2 = data[:64].hex(), data[64:96], data[96:]
    try:
        check_public_key(c1)
    except Sm2Error:
        raise Sm2Error("SM2密文不正确") from None
    crypt = _crypt(private_key, "")
    xy = crypt._kg(int(private_key, 16), c1)
    t = bytes.fromhex(_sm3.sm3_kdf(xy.encode("utf8"), len(c2)))
    message = bytes(c ^ s for c, s in zip(c2, t, strict=True))
    expected = hashlib.new("sm3", bytes.fromhex(xy[:_HEX]) + message + bytes.fromhex(xy[_HEX:])).digest()
    if not any(t) or not hmac.compare_digest(expected, c3):
        raise Sm2Error("SM2密文无法用该私钥解开")
    return message


def sign(key: KeyPair, data: bytes) -> bytes:
    crypt = _crypt(key.private_key, key.public_key)
    while True:
        signature = crypt.sign_with_sm3(data, f"{_scalar():064x}")
        if signature:
            return bytes.fromhex(signature)


def verify(public_key: str, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
    if not (0 < r < _N and 0 < s < _N):
        return False
    crypt = _crypt("", check_public_key(public_key))
    return bool(crypt.verify_with_sm3(signature.hex(), data))
