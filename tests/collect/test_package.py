"""The offline version's package: SM4-GCM content under a key wrapped with SM2 for the agency, an SM3
integrity tag and the unit's SM2 signature. Round trip, every changed byte refused, a package for another
agency refused, a re-signed package refused; the agency's keys sealed under the KEK; the import as a
declaration (once per package)."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime

import pytest

from hub.access.subject import StaffRole
from hub.collect import keys, package, sm2
from hub.collect import service as collect
from hub.declarations import review
from hub.declarations.states import Status
from hub.errors import ValidationFailed
from tests.collect.conftest import collection
from tests.declarations import kit
from tests.declarations.conftest import World

KEK = "test-kek-for-collect-0123456789abcdef"
NOW = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def agency() -> sm2.KeyPair:
    return sm2.generate()


@pytest.fixture(scope="module")
def unit_key() -> sm2.KeyPair:
    return sm2.generate()


def _pairs(key: sm2.KeyPair) -> list[tuple[str, str]]:
    return [(key.public_key, key.private_key)]


def test_sm2_round_trip_and_refusals(agency: sm2.KeyPair) -> None:
    secret = bytes(range(16))
    sealed = sm2.encrypt(agency.public_key, secret)
    assert len(sealed) == 64 + 32 + 16  # C1 ‖ C3 ‖ C2
    assert sm2.decrypt(agency.private_key, sealed) == secret
    with pytest.raises(sm2.Sm2Error):
        sm2.decrypt(sm2.generate().private_key, sealed)  # C3 does not match under another key
    signature = sm2.sign(agency, b"message")
    assert sm2.verify(agency.public_key, b"message", signature)
    assert not sm2.verify(agency.public_key, b"messagf", signature)
    with pytest.raises(sm2.Sm2Error):
        sm2.check_public_key("04" + "11" * 64)  # not a point of the curve


def test_round_trip(agency: sm2.KeyPair, unit_key: sm2.KeyPair) -> None:
    payload = collection()
    data = package.build(payload, agency_public_key=agency.public_key, unit_key=unit_key, now=NOW)
    opened = package.open_package(data, _pairs(agency))
    assert opened.payload == package.canonical(payload)
    assert opened.payload["staff"][0]["monthly_wage"] == "10000.00"  # canonical money: two decimals
    assert opened.header["rows"] == {"staff": 2, "retirees": 1}
    assert opened.unit_key_fingerprint == sm2.fingerprint(unit_key.public_key)
    assert opened.digest == hashlib.new("sm3", data[: -32 - 64]).hexdigest()
    # The content is not readable in the file.
    assert payload["unit"]["contact_phone"].encode() not in data and "陈一".encode() not in data


def test_every_changed_byte_is_refused(agency: sm2.KeyPair, unit_key: sm2.KeyPair) -> None:
    data = package.build(collection(), agency_public_key=agency.public_key, unit_key=unit_key, now=NOW)
    header_len = struct.unpack_from(">I", data, len(package.MAGIC))[0]
    body_at = len(package.MAGIC) + 4 + header_len + 4
    # One byte inside the encrypted body: named as a change, before anything is decrypted.
    changed = bytearray(data)
    changed[body_at + 20] ^= 0x01
    with pytest.raises(package.PackageRefused) as caught:
        package.open_package(bytes(changed), _pairs(agency))
    assert caught.value.message == package.TAMPERED and "改动" in caught.value.message
    # Any byte, anywhere (magic, lengths, header, body, tag, signature).
    for at in range(0, len(data), 7):
        changed = bytearray(data)
        changed[at] ^= 0x80
        with pytest.raises(package.PackageRefused):
            package.open_package(bytes(changed), _pairs(agency))
    with pytest.raises(package.PackageRefused) as cut:
        package.open_package(data[:-1], _pairs(agency))
    assert cut.value.message in (package.TAMPERED, package.NOT_A_PACKAGE)


def test_a_recomputed_tag_does_not_hide_a_change(agency: sm2.KeyPair, unit_key: sm2.KeyPair) -> None:
    """The SM3 tag has no key: someone who changes a byte and recomputes it is caught by the signature."""
    data = package.build(collection(), agency_public_key=agency.public_key, unit_key=unit_key, now=NOW)
    signed = bytearray(data[: -32 - 64])
    signed[-5] ^= 0x01
    forged = bytes(signed) + hashlib.new("sm3", bytes(signed)).digest() + data[-64:]
    with pytest.raises(package.PackageRefused) as caught:
        package.open_package(forged, _pairs(agency))
    assert caught.value.message == package.BAD_SIGNATURE


def test_a_package_re_signed_with_another_key_does_not_open(agency: sm2.KeyPair, unit_key: sm2.KeyPair) -> None:
    """Swapping the unit key in the header and signing again changes the header the body is bound to."""
    data = package.build(collection(), agency_public_key=agency.public_key, unit_key=unit_key, now=NOW)
    at = len(package.MAGIC)
    header_len = struct.unpack_from(">I", data, at)[0]
    header = data[at + 4 : at + 4 + header_len]
    mallory = sm2.generate()
    header2 = header.replace(unit_key.public_key.encode(), mallory.public_key.encode())
    assert header2 != header
    rest = data[at + 4 + header_len : -32 - 64]
    signed = package.MAGIC + struct.pack(">I", len(header2)) + header2 + rest
    forged = signed + hashlib.new("sm3", signed).digest() + sm2.sign(mallory, signed)
    with pytest.raises(package.PackageRefused) as caught:
        package.open_package(forged, _pairs(agency))
    assert caught.value.message == package.UNREADABLE


def test_a_package_for_another_agency_is_refused(agency: sm2.KeyPair, unit_key: sm2.KeyPair) -> None:
    other = sm2.generate()
    data = package.build(collection(), agency_public_key=other.public_key, unit_key=unit_key, now=NOW)
    with pytest.raises(package.PackageRefused) as caught:
        package.open_package(data, _pairs(agency))
    assert caught.value.message == package.FOREIGN
    assert package.open_package(data, _pairs(other)).header["rows"]["staff"] == 2


def test_invalid_content_never_becomes_a_package(agency: sm2.KeyPair, unit_key: sm2.KeyPair) -> None:
    payload = collection()
    payload["staff"][0]["monthly_wage"] = "-1"
    payload["unit"]["uscc"] = payload["unit"]["uscc"][:-1] + ("0" if payload["unit"]["uscc"][-1] != "0" else "1")
    with pytest.raises(ValidationFailed) as caught:
        package.build(payload, agency_public_key=agency.public_key, unit_key=unit_key)
    messages = package.messages(caught.value)
    assert any(m.startswith("单位信息统一社会信用代码") for m in messages), messages
    assert any(m.startswith("在职人员第1行月缴费工资") for m in messages), messages


def test_agency_keys_are_sealed_and_import_makes_one_declaration(world: World, unit_key: sm2.KeyPair) -> None:
    with pytest.raises(keys.KeysUnavailable):
        keys.current(world.hub)
    public = keys.create(world.hub, KEK, created_by="t", now=NOW)
    world.hub.commit()
    stored = world.hub.execute("select private_sealed from hub.collect_key").fetchone()
    assert stored is not None
    (private,) = [p for _, p in keys.key_pairs(world.hub, KEK)]
    assert private.encode() not in bytes(stored[0])  # only sealed
    with pytest.raises(keys.KeysUnavailable):
        keys.key_pairs(world.hub, "another-kek-0123456789abcdef0123")
    assert keys.read_public_key_text(public.text()) == public.public_key

    data = package.build(collection(), agency_public_key=public.public_key, unit_key=unit_key, now=NOW)
    operator = kit.staff("op-1", StaffRole.OPERATOR)
    shown = collect.preview_package(world.hub, world.query, data, kek=KEK, subject=operator, today=kit.TODAY)
    assert review.COLLECT_FLAG in shown.assessment.flags
    assert world.hub.execute("select count(*) from hub.declaration").fetchone() == (0,)  # a preview writes nothing
    with pytest.raises(package.PackageRefused, match="经办范围"):
        collect.preview_package(
            world.hub, world.query, data, kek=KEK, subject=kit.staff("op-2", StaffRole.OPERATOR,
            regions=(kit.OTHER_REGION,)), today=kit.TODAY,
        )  # fmt: skip
    _, decl = collect.import_package(world.hub, world.query, data, kek=KEK, subject=operator, now=NOW)
    world.hub.commit()
    assert decl.status is Status.SUBMITTED and decl.unit_id == 0 and decl.created_by == "op-1"
    _, again = collect.import_package(world.hub, world.query, data, kek=KEK, subject=operator, now=NOW)
    world.hub.commit()
    assert again.id == decl.id
    assert world.hub.execute("select count(*) from hub.declaration").fetchone() == (1,)
