"""Verification codes are keyed MACs over id + content digest + expiry; the content digest covers every
stated value; the masked copy hides names and numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.certificates import codes
from hub.certificates.config import CertificateSettings
from hub.certificates.content import sm3
from tests.certificates.conftest import person_content, statement_content

EXPIRES = datetime(2026, 12, 27, 2, 30, tzinfo=UTC)
ID = "ZM20261127ABCDEFGHJK"


def test_code_depends_on_key_id_digest_and_expiry() -> None:
    digest = person_content().digest()
    base = codes.make_code("key-1", ID, digest, EXPIRES)
    assert len(base) == codes.CODE_LENGTH and codes.normalize(base) == base
    assert codes.make_code("key-1", ID, digest, EXPIRES) == base  # deterministic
    assert codes.make_code("key-2", ID, digest, EXPIRES) != base
    assert codes.make_code("key-1", ID[:-1] + "M", digest, EXPIRES) != base
    assert codes.make_code("key-1", ID, person_content("张三").digest(), EXPIRES) != base
    assert codes.make_code("key-1", ID, digest, EXPIRES + timedelta(seconds=1)) != base
    # The same instant in another time zone is the same expiry.
    assert codes.make_code("key-1", ID, digest, EXPIRES.astimezone(ZoneInfo("Asia/Shanghai"))) == base
    assert codes.code_matches("key-1", base, ID, digest, EXPIRES)
    assert not codes.code_matches("key-1", base, ID, digest, EXPIRES + timedelta(days=1))


def test_the_code_is_the_hmac_sm3_prefix() -> None:
    # HMAC-SM3 computed independently with the standard construction (RFC 2104, block size 64):
    # H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), then the first 80 bits in Crockford base32.
    key = b"key-1".ljust(64, b"\x00")
    message = codes.mac_input(ID, b"\x01" * 32, EXPIRES)
    inner = sm3(bytes(k ^ 0x36 for k in key) + message)
    mac = sm3(bytes(k ^ 0x5C for k in key) + inner)
    bits = int.from_bytes(mac[:10], "big")
    expected = "".join(codes.ALPHABET[(bits >> (75 - 5 * i)) & 31] for i in range(16))
    assert codes.make_code("key-1", ID, b"\x01" * 32, EXPIRES) == expected


def test_sm3_standard_vector() -> None:
    # GB/T 32905-2016 Appendix A, example 1: SM3("abc").
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@given(st.binary(min_size=10, max_size=10))
def test_display_and_normalize_round_trip(raw: bytes) -> None:
    code = codes._base32(raw, codes.CODE_LENGTH)
    shown = codes.display(code)
    assert len(shown) == 19 and shown.count("-") == 3
    assert codes.normalize(shown) == code
    assert codes.normalize(shown.lower().replace("-", " ")) == code


def test_malformed_codes_are_refused() -> None:
    for text in ("", "ABC", "K3M9QX2V7D0AB1CE0", "K3M9QX2V7D0AB1C!", "K3M9QX2V7D0AB1CU"):
        assert codes.normalize(text) is None, text


def test_certificate_ids_are_random_not_counters() -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    ids = {codes.new_certificate_id(now) for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("ZM20261127") and len(i) == 20 for i in ids)


def test_digest_covers_every_value_and_masked_copy_hides_identity() -> None:
    a = statement_content()
    assert a.digest() == statement_content().digest()
    changed = (*a.tables[0].rows[0][:3], "15,360.01", *a.tables[0].rows[0][4:])
    tampered = type(a)(
        a.kind, a.subject, a.lines, (type(a.tables[0])(a.tables[0].title, a.tables[0].headers, (changed,)),), a.notes
    )
    assert tampered.digest() != a.digest()  # one fen more in one cell
    masked = a.masked()
    assert dict(masked["lines"])["姓名"] == "吉*"
    assert dict(masked["lines"])["公民身份号码"] == "110***********002X"
    assert masked["tables"] == a.as_dict()["tables"]  # amounts stay, so an edited PDF is exposed


def test_production_refuses_development_settings() -> None:
    CertificateSettings().check_environment("development")
    with pytest.raises(ValueError, match=r"MAC_KEY.*VERIFY_BASE_URL"):
        CertificateSettings().check_environment("production")
    good = CertificateSettings(mac_key="k" * 32, verify_base_url="https://hub.example.gov.cn/verify")
    good.check_environment("production")
