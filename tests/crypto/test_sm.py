"""The 国密 primitives against published vectors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes

from hub.crypto.sm import SealBroken, _seal_with_nonce, hmac_sm3, sm4_gcm_open, sm4_gcm_seal


def test_sm3_of_abc_matches_gbt_32905() -> None:
    # GB/T 32905-2016, example 1: SM3("abc").
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm4_gcm_matches_rfc_8998_appendix_a() -> None:
    # RFC 8998, A.1 (SM4-GCM test vector).
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    sealed = _seal_with_nonce(key, nonce, plaintext, aad)
    assert sealed[:12] == nonce
    assert sealed[12:-16].hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    assert sealed[-16:].hex().upper() == "83DE3541E4C2B58177E065A9BF7B62EC"
    assert sm4_gcm_open(key, sealed, aad) == plaintext


def test_a_changed_byte_or_context_does_not_open() -> None:
    key = bytes(range(16))
    sealed = sm4_gcm_seal(key, b"110105194912310029", b"ctx")
    assert sm4_gcm_seal(key, b"x", b"ctx") != sm4_gcm_seal(key, b"x", b"ctx")  # fresh nonce each time
    with pytest.raises(SealBroken):
        sm4_gcm_open(key, sealed, b"other")
    flipped = bytearray(sealed)
    flipped[15] ^= 1
    with pytest.raises(SealBroken):
        sm4_gcm_open(key, bytes(flipped), b"ctx")
    with pytest.raises(SealBroken):
        sm4_gcm_open(key, sealed[:20], b"ctx")


def test_hmac_sm3_is_keyed() -> None:
    assert hmac_sm3(b"k1", b"v") != hmac_sm3(b"k2", b"v")
    assert len(hmac_sm3(b"k1", b"v")) == 32
