"""Supporting documents sealed at rest: declaration attachments and objection evidence files.

A unit uploads a scan to a declaration and a person objects with a piece of evidence, through the pages; the
unit, the reviewer and the agency's operator download them byte for byte while no hub-DB column holds the
file's bytes (each file carries an ID number and a phone as text, which the scan of every column looks for).
An envelope copied into another row, and a leftover plaintext file whose bytes no longer match its digests,
answer ``FileDamaged`` (never another file's bytes). ``hub keys seal`` seals the plaintext an older release
left (and does nothing the second time); ``hub keys rotate`` re-seals the envelopes under the new data key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.access.subject import StaffRole
from hub.config.crypto import DEV_KEK
from hub.crypto import files, keys, ring
from hub.crypto.fields import Keyring, key_id_of
from hub.crypto.rotation import pending
from hub.declarations import attachments, service
from hub.declarations.config import DeclarationSettings
from hub.declarations.types import DeclarationType as T
from hub.ids import make_id_number
from hub.persons import objections
from hub.persons import person_services_repository as repo
from hub.persons.objections import Evidence, ObjectionForm
from tests.api.conftest import Province
from tests.declarations import kit
from tests.fixtures.servers import Servers
from tests.identity.oauthkit import make_app
from tests.person_services import kit as person_kit
from tests.person_services import pages
from tests.portal_staff import kit as staff_kit
from tests.sealed.scan import scan

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SCAN_ID = make_id_number("370102", date(1984, 5, 17), 35, "1")  # printed on the scanned ID card
SCAN_PHONE = "13912347788"
EVIDENCE_ID = make_id_number("110102", date(1979, 1, 2), 61, "2")  # printed on the pay slip


def pdf(text: str) -> bytes:
    """A small valid PDF whose body carries ``text`` as written (like a scan's text layer)."""
    body = f"%{text}\n".encode()
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        + body
        + b"trailer\n<< /Root 1 0 R >>\nstartxref\n0\n%%EOF\n"
    )


ID_CARD = pdf(f"居民身份证 {SCAN_ID} 手机 {SCAN_PHONE}")
PAY_SLIP = pdf(f"工资单 {EVIDENCE_ID}")
OTHER = pdf("营业执照副本")
MANY = DeclarationSettings(attachment_max_count=20)


@pytest.fixture(scope="module")
def province(servers: Servers) -> Iterator[Province]:
    with staff_kit.own_province(servers, persons=12) as found:
        yield found


@pytest.fixture(autouse=True)
def _dev_kek() -> Iterator[None]:
    ring.configure(DEV_KEK)
    yield
    ring.reset()


@pytest.fixture(scope="module")
def app(province: Province) -> Any:
    built, _ = make_app(province, test_fixed_captcha="TEST", test_fixed_sms_code=staff_kit.CODE)
    return built


def _env(province: Province) -> dict[str, str]:
    return {
        "HUB_CORE_DB_URL": province.core_url,
        "HUB_HUB_DB_URL": province.hub_url,
        "HUB_QUERY_DB_URL": province.query_url,
        "HUB_REDIS_URL": province.redis_url,
        "HUB_ENVIRONMENT": "test",
        "HUB_CRYPTO__KEK": DEV_KEK,
    }


def _stored(province: Province, column: Any, row_id: int) -> tuple[bytes | None, bytes | None]:
    """(plaintext, envelope) of a row as the table holds them."""
    plain = files.PLAINTEXT[column]
    with pg.connect(province.hub_url) as hub:
        row = hub.execute(f"select {plain}, {column.column} from {column.table} where id = %s", (row_id,)).fetchone()
    assert row is not None
    return cast("bytes | None", row[0]), cast("bytes | None", row[1])  # both bytea


def _keyring(province: Province) -> Keyring:
    with pg.connect(province.hub_url) as hub:
        found = keys.load(hub, DEV_KEK)
    assert found is not None
    return found


def _declaration(province: Province) -> tuple[int, int, str]:
    unit = province.units[0]
    unit_id, region = int(unit["unit_id"]), str(unit["region_code"])
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url) as query:
        decl = service.create(
            hub, query, kit.unit_operator(unit_id), T.UNIT_CHANGE, {"address": "泉城路8号"}, uuid.uuid4().hex
        )
        hub.commit()
    return decl.id, unit_id, region


def _objection(province: Province, evidence: bytes) -> tuple[int, int, str]:
    """A person's objection with one evidence file: (objection id, file id, region)."""
    person_id = person_kit.workers(province)[0]
    with pg.connect(province.query_url) as store:
        row = store.execute(
            "select period, insurance from contribution_month where person_id = %s order by period desc limit 1",
            (person_id,),
        ).fetchone()
    assert row is not None
    period, insurance = cast(int, row[0]), str(row[1])  # period: integer
    form = ObjectionForm("contribution", period // 100, period % 100, insurance, None, "该月缴费基数与工资单不符")
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        made = objections.submit(
            hub, store, person_kit.person(person_id), form, [Evidence("工资单.pdf", evidence)], NOW
        )
        hub.commit()
        found = hub.execute(
            "select id from hub.record_objection_file where objection_id = %s", (int(made["id"]),)
        ).fetchone()
    assert found is not None
    return int(made["id"]), cast(int, found[0]), person_kit.region_of(province, person_id)  # id: bigserial


def test_files_round_trip_through_the_pages_and_no_column_holds_their_bytes(app: Any, province: Province) -> None:
    declaration_id, unit_id, region = _declaration(province)
    operator = staff_kit.add_unit_operator(app, province.hub_url, unit_id)
    page = f"/portal/unit/declarations/{declaration_id}"
    with TestClient(app, raise_server_exceptions=False) as unit_client:
        staff_kit.log_in(unit_client, "unit_operator", operator["login"], page, unit_code=str(unit_id))
        done = unit_client.post(
            f"/portal/unit/attachments/{declaration_id}",
            data=staff_kit.csrf(unit_client, page),
            files={"file": ("身份证.pdf", ID_CARD, "application/pdf")},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        with pg.connect(province.hub_url) as hub:
            row = hub.execute(
                "select max(id) from hub.declaration_attachment where declaration_id = %s", (declaration_id,)
            ).fetchone()
        assert row is not None
        attachment_id = cast(int, row[0])  # max(id): bigint
        own = unit_client.get(f"{page}/attachments/{attachment_id}")
        assert own.status_code == 200 and own.content == ID_CARD

    reviewer = staff_kit.add_staff(app, province.hub_url, StaffRole.REVIEWER, (region,))
    with TestClient(app, raise_server_exceptions=False) as staff_client:
        staff_kit.log_in(staff_client, "staff", reviewer["login"], "/portal/staff")
        got = staff_client.get(f"/portal/staff/declarations/{declaration_id}/attachments/{attachment_id}")
        assert got.status_code == 200 and got.content == ID_CARD

    objection_id, file_id, person_region = _objection(province, PAY_SLIP)
    with TestClient(pages.app_for(province), raise_server_exceptions=False) as client:
        pages.as_staff(client, pages.new_staff(client, province, person_region), "/portal/staff/persons/objections")
        evidence = client.get(f"/portal/staff/persons/objections/{objection_id}/files/{file_id}")
        assert evidence.status_code == 200 and evidence.content == PAY_SLIP

    # The tables hold envelopes only, under the active data key, and the digests of the plaintext.
    keyring = _keyring(province)
    for column, row_id, original in (
        (files.ATTACHMENT, attachment_id, ID_CARD),
        (files.OBJECTION_FILE, file_id, PAY_SLIP),
    ):
        plain, envelope = _stored(province, column, row_id)
        assert plain is None and envelope is not None
        assert original not in envelope and key_id_of(envelope) == keyring.active_id
        assert keyring.open_bytes(envelope, column.context((row_id,))) == original
    # Not one column of the hub DB holds the numbers printed on the files (a bytea is searched as hex).
    assert scan(province.hub_url, {SCAN_ID, SCAN_PHONE, EVIDENCE_ID}) == {}


def test_an_envelope_copied_to_another_row_or_damaged_plaintext_does_not_open(province: Province) -> None:
    declaration_id, unit_id, _ = _declaration(province)
    op = kit.unit_operator(unit_id)
    with pg.connect(province.hub_url) as hub:
        first = attachments.attach(hub, op, declaration_id, "身份证.pdf", ID_CARD, DeclarationSettings())
        second = attachments.attach(hub, op, declaration_id, "执照.pdf", OTHER, DeclarationSettings())
        hub.commit()
        assert attachments.read(hub, op, declaration_id, second.id)[1] == OTHER
        # second's row now holds first's envelope: bound to first's id, it does not open there
        hub.execute(
            "update hub.declaration_attachment set content_enc = (select content_enc from hub.declaration_attachment "
            "where id = %s) where id = %s",
            (first.id, second.id),
        )
        with pytest.raises(files.FileDamaged) as damaged:
            attachments.read(hub, op, declaration_id, second.id)
        assert damaged.value.status == 500 and "文件校验失败" in damaged.value.detail
        hub.rollback()
        # a plaintext row of the previous release whose bytes were changed: the digests say so
        hub.execute(
            "update hub.declaration_attachment set content = %s, content_enc = null where id = %s",
            (OTHER[:-1] + b"\r", second.id),
        )
        with pytest.raises(files.FileDamaged):
            attachments.read(hub, op, declaration_id, second.id)
        hub.rollback()
        assert attachments.read(hub, op, declaration_id, first.id)[1] == ID_CARD


def test_hub_keys_seal_seals_leftover_plaintext_once(province: Province) -> None:
    declaration_id, unit_id, _ = _declaration(province)
    with pg.connect(province.hub_url) as hub:
        made = attachments.attach(
            hub, kit.unit_operator(unit_id), declaration_id, "身份证.pdf", ID_CARD, DeclarationSettings()
        )
        hub.commit()
    _, file_id, _ = _objection(province, PAY_SLIP)
    # As the previous release wrote them: the bytes in the plaintext column, no envelope.
    with pg.connect(province.hub_url) as hub:
        hub.execute(
            "update hub.declaration_attachment set content = %s, content_enc = null where id = %s", (ID_CARD, made.id)
        )
        hub.execute(
            "update hub.record_objection_file set data = %s, data_enc = null where id = %s", (PAY_SLIP, file_id)
        )
        hub.commit()
        # still readable meanwhile (checked against the digests)
        assert attachments.read(hub, kit.unit_operator(unit_id), declaration_id, made.id)[1] == ID_CARD
        hub.rollback()
    assert _stored(province, files.ATTACHMENT, made.id) == (ID_CARD, None)

    runner = CliRunner()
    result = runner.invoke(cli, ["keys", "seal"], env=_env(province))
    assert result.exit_code == 0, result.output
    sealed_count = int(result.output.split("hub: 已加密 ")[1].split(" ")[0])
    assert sealed_count >= 2
    keyring = _keyring(province)
    for column, row_id, original in ((files.ATTACHMENT, made.id, ID_CARD), (files.OBJECTION_FILE, file_id, PAY_SLIP)):
        plain, envelope = _stored(province, column, row_id)
        assert plain is None and envelope is not None
        assert keyring.open_bytes(envelope, column.context((row_id,))) == original
    with pg.connect(province.hub_url) as hub:
        assert attachments.read(hub, kit.unit_operator(unit_id), declaration_id, made.id)[1] == ID_CARD
        assert repo.objection_file(hub, _objection_of(hub, file_id), file_id)["data"] == PAY_SLIP  # type: ignore[index]
        hub.rollback()

    kept = _stored(province, files.ATTACHMENT, made.id)
    again = runner.invoke(cli, ["keys", "seal"], env=_env(province))
    assert again.exit_code == 0, again.output
    assert "hub: 已加密 0 个明文值" in again.output  # nothing left: the second run changes nothing
    assert _stored(province, files.ATTACHMENT, made.id) == kept


def _objection_of(hub: Any, file_id: int) -> int:
    row = hub.execute("select objection_id from hub.record_objection_file where id = %s", (file_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_rotation_reseals_the_files_under_the_new_key(province: Province) -> None:
    declaration_id, unit_id, _ = _declaration(province)
    op = kit.unit_operator(unit_id)
    with pg.connect(province.hub_url) as hub:
        made = [
            attachments.attach(hub, op, declaration_id, f"扫描{i}.pdf", pdf(f"第{i}页 {SCAN_ID}"), MANY)
            for i in range(files.MAX_BATCH + 3)  # more than one batch of files
        ]
        hub.commit()
    _, file_id, _ = _objection(province, PAY_SLIP)
    old = _keyring(province)
    before = {a.id: _stored(province, files.ATTACHMENT, a.id)[1] for a in made}
    assert {key_id_of(e) for e in before.values() if e is not None} == {old.active_id}

    result = CliRunner().invoke(cli, ["keys", "rotate"], env=_env(province))
    assert result.exit_code == 0, result.output
    new = _keyring(province)
    assert new.active_id != old.active_id
    with pg.connect(province.hub_url) as hub:
        assert pending(hub, new, files.ATTACHMENT) == 0 and pending(hub, new, files.OBJECTION_FILE) == 0
        for i, a in enumerate(made):
            envelope = _stored(province, files.ATTACHMENT, a.id)[1]
            assert envelope is not None and envelope != before[a.id] and key_id_of(envelope) == new.active_id
            assert attachments.read(hub, op, declaration_id, a.id)[1] == pdf(f"第{i}页 {SCAN_ID}")
        envelope = _stored(province, files.OBJECTION_FILE, file_id)[1]
        assert envelope is not None and key_id_of(envelope) == new.active_id
        assert repo.objection_file(hub, _objection_of(hub, file_id), file_id)["data"] == PAY_SLIP  # type: ignore[index]
        hub.rollback()


def test_reseal_keeps_binary_bytes() -> None:
    """Rotation re-seals raw bytes (a scan is not UTF-8 text) as they were."""
    old = Keyring({1: b"\x01" * 16}, 1, b"\x02" * 16)
    new = Keyring({1: b"\x01" * 16, 2: b"\x03" * 16}, 2, b"\x02" * 16)
    data = bytes(range(256)) * 4  # not valid UTF-8
    envelope = old.seal_bytes(data, "hub.declaration_attachment.content:7")
    moved = new.reseal(envelope, "hub.declaration_attachment.content:7")
    assert key_id_of(moved) == 2 and new.open_bytes(moved, "hub.declaration_attachment.content:7") == data
    assert new.reseal(moved, "hub.declaration_attachment.content:7") == moved  # already under the active key
