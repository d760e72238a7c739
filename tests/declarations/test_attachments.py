"""Supporting documents on declarations: the type decided by content, the limits, refusals that write
nothing, the reviewer's view and download (only in the declaration's 统筹区), and the documents
forwarded through the outbox to the real core API and filed in its 电子档案."""

from __future__ import annotations

import hashlib
import io
import json
import random
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core import commands
from core.archive import ArchiveFile
from hub import pg
from hub.access.subject import StaffRole
from hub.crypto import payloads
from hub.declarations import attachments, service
from hub.declarations.attachments import AttachmentRefused, AttachmentTooLarge, sniff
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from hub.errors import NotFound
from tests.api.conftest import Province
from tests.declarations import kit
from tests.declarations.conftest import World
from tests.fixtures.servers import Servers
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit as staff_kit

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\nstartxref\n0\n%%EOF\n"
)


def image(kind: str, size: tuple[int, int] = (16, 12)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (180, 40, 40)).save(out, kind)
    return out.getvalue()


def pdf_with(body: bytes) -> bytes:
    return PDF.replace(b"trailer", body + b"\ntrailer")


# Type by content --------------------------------------------------------------------------------------


def test_the_type_is_decided_by_the_content() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(image("JPEG")) == "image/jpeg"
    assert sniff(image("PNG")) == "image/png"
    # the name never decides: a PNG called .exe is a PNG, and is named like one
    assert attachments.clean_name("C:\\扫描\\证明.exe", "image/png") == "证明.png"
    assert attachments.clean_name("../../etc/passwd", "application/pdf") == "passwd.pdf"
    assert attachments.clean_name("\x00\u202e.pdf", "application/pdf") == "附件.pdf"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"MZ\x90\x00\x03" + b"\x00" * 200, "type"),  # a Windows program, whatever it is called
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "type"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "type"),
        (b"PK\x03\x04" + b"\x00" * 100, "type"),  # a zip (or an Office file)
        (b"", "empty"),
        (PDF[:-7], "broken"),  # no %%EOF
        (image("PNG")[:-12], "broken"),  # no IEND
        (image("JPEG")[:-2], "broken"),  # no EOI
        (b"\xff\xd8\xff\xd9" + b"\x00" * 8, "broken"),  # SOI, EOI, nothing between
        (pdf_with(b"3 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj"), "active"),
        (pdf_with(b"3 0 obj\n<< /S /J#61vaScript /J#53 (app.alert(1)) >>\nendobj"), "active"),  # #xx escapes
        (pdf_with(b"3 0 obj\n<< /S /Launch /F (cmd.exe) >>\nendobj"), "active"),
        (pdf_with(b"3 0 obj\n<< /EmbeddedFiles 4 0 R >>\nendobj"), "active"),
    ],
)
def test_anything_else_is_refused(data: bytes, code: str) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        sniff(data)
    assert refused.value.extensions["code"] == code
    if code == "type":
        assert refused.value.detail == "文件类型不支持（仅限 PDF、JPEG、PNG）"


def test_active_content_hidden_in_an_object_stream_is_found() -> None:
    hidden = zlib.compress(b"3 0 << /S /JavaScript /JS (app.alert(1)) >>")
    stream = b"4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(hidden)
    with pytest.raises(AttachmentRefused) as refused:
        sniff(pdf_with(stream + hidden + b"\nendstream\nendobj"))
    assert refused.value.extensions["code"] == "active"
    harmless = zlib.compress(b"3 0 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    stream = b"4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(harmless)
    assert sniff(pdf_with(stream + harmless + b"\nendstream\nendobj")) == "application/pdf"


# Limits and states (service, real hub DB) ---------------------------------------------------------------

SMALL = DeclarationSettings(attachment_max_bytes=4096, attachment_max_count=3, attachment_max_total_bytes=6000)


def noise_png(side: int) -> bytes:
    """A PNG of random grey pixels: it does not compress, so its size follows ``side``."""
    out = io.BytesIO()
    Image.frombytes("L", (side, side), random.Random(side).randbytes(side * side)).save(out, "PNG")
    return out.getvalue()


def _written(world: World) -> tuple[int, int]:
    """Stored documents and audit records of added documents (committed state)."""
    world.hub.rollback()
    row = world.hub.execute(
        "select (select count(*) from hub.declaration_attachment), "
        "(select count(*) from hub.audit_log where action = 'declaration.attachment.add')"
    ).fetchone()
    world.hub.rollback()
    assert row is not None
    return int(row[0]), int(row[1])


def _refused_commits_nothing(world: World, call: Any, error: type[Exception], detail: str) -> None:
    before = _written(world)
    with pytest.raises(error) as refused:
        call()
    assert detail in str(refused.value)
    world.hub.commit()  # whatever the refused call might have written would be kept now
    assert _written(world) == before


def test_limits_and_states_refuse_and_write_nothing(world: World) -> None:
    op = kit.unit_operator(1)
    decl = service.create(world.hub, world.query, op, T.UNIT_CHANGE, {"address": "经十路1号"}, "a1", now=kit.NOW)
    world.hub.commit()
    big, small = noise_png(56), image("PNG", (2, 2))
    # 56 × 56 = 3,136 pixel bytes: under the 4,096-byte file limit, and two of them exceed the 6,000 total
    assert 3136 < len(big) <= 4096 and 2 * len(big) > 6000 and len(big) + 2 * len(small) <= 6000

    def attach(data: bytes, subject: Any = op, settings: DeclarationSettings = SMALL) -> Any:
        return attachments.attach(world.hub, subject, decl.id, "scan.png", data, settings)

    _refused_commits_nothing(
        world, lambda: attach(noise_png(70)), AttachmentTooLarge, "文件过大：单个附件不能超过 4 KB"
    )
    _refused_commits_nothing(world, lambda: attach(b"<html></html>"), AttachmentRefused, "文件类型不支持")
    _refused_commits_nothing(world, lambda: attach(small, kit.unit_operator(2)), NotFound, "")
    first = attach(big)
    assert (first.size, first.sha256) == (len(big), hashlib.sha256(big).hexdigest())
    assert first.sm3 == attachments.sm3(big).hex() and first.media_type == "image/png"
    world.hub.commit()
    _refused_commits_nothing(world, lambda: attach(big), AttachmentTooLarge, "附件总大小超过上限")
    attach(small)
    attach(small)
    world.hub.commit()
    _refused_commits_nothing(world, lambda: attach(small), AttachmentRefused, "附件数量超过上限：每件申报最多 3 个附件")
    assert _written(world) == (3, 3)

    # submitted and unclaimed: still editable; claimed: fixed, for the unit's removal too
    service.submit(world.hub, world.query, op, decl.id, now=kit.NOW)
    attachments.remove(world.hub, op, decl.id, first.id)
    world.hub.commit()
    assert _written(world)[0] == 2
    service.claim(world.hub, kit.reviewer(), decl.id)
    world.hub.commit()
    _refused_commits_nothing(world, lambda: attach(small), AttachmentRefused, "不能再添加或删除附件")
    kept = attachments.list_for(world.hub, op, decl.id)[0]
    with pytest.raises(AttachmentRefused):
        attachments.remove(world.hub, op, decl.id, kept.id)
    world.hub.rollback()
    assert _written(world)[0] == 2


# Forwarded to the core ------------------------------------------------------------------------------------


def test_documents_travel_with_the_command_and_are_filed_in_the_core(world: World) -> None:
    op, rev = kit.unit_operator(1), kit.reviewer()
    decl = service.create(world.hub, world.query, op, T.UNIT_CHANGE, {"address": "经十路2号"}, "f1", now=kit.NOW)
    jpeg = image("JPEG")
    sent = {
        attachments.attach(world.hub, op, decl.id, "营业执照.pdf", PDF, DeclarationSettings()).id: PDF,
        attachments.attach(world.hub, op, decl.id, "证明.jpg", jpeg, DeclarationSettings()).id: jpeg,
    }
    service.submit(world.hub, world.query, op, decl.id, now=kit.NOW)
    service.claim(world.hub, rev, decl.id)
    service.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    # the outbox row holds the declaration only; the bytes are read from the attachments at send time
    row = world.hub.execute("select command_id, payload_enc from hub.declaration_command").fetchone()
    assert row is not None and "attachments" not in payloads.opened(world.hub, payloads.COMMAND, row[0], row[1])
    world.hub.rollback()
    command_id = row[0]
    with kit.core_api(world.dbs.core_url) as api:
        worker = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, DeclarationSettings(core_api_url=api.url))
        assert worker.step() == 1
        worker.close()
        with urllib.request.urlopen(f"{api.url}/esb/commands/{command_id}/archive", timeout=10) as resp:  # noqa: S310
            listed = json.loads(resp.read())
    assert service.get(world.hub, op, decl.id).status is Status.APPLIED
    world.hub.rollback()
    with pg.connect(world.dbs.core_url) as core:
        filed = core.execute(
            "select source_id, filename, media_type, size, sha256, content, reference from core.archive_file "
            "where command_id = %s order by source_id",
            (command_id,),
        ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in filed] == [
        (i, name, media, len(data))
        for (i, data), name, media in zip(
            sorted(sent.items()), ("营业执照.pdf", "证明.jpg"), ("application/pdf", "image/jpeg"), strict=True
        )
    ]
    for r in filed:
        source_id, sha256, content = cast(int, r[0]), cast(bytes, r[4]), cast(bytes, r[5])  # bigint, bytea, bytea
        assert content == sent[source_id] and sha256 == hashlib.sha256(sent[source_id]).digest()
        assert r[6] == decl.reference
    assert [(x["attachment_id"], x["sha256"]) for x in listed] == [
        (i, hashlib.sha256(d).hexdigest()) for i, d in sorted(sent.items())
    ]


def test_the_core_refuses_a_document_whose_digest_does_not_match(world: World) -> None:
    good = ArchiveFile(
        7,
        "a.pdf",
        "application/pdf",
        len(PDF),
        hashlib.sha256(PDF).hexdigest(),
        attachments.sm3(PDF).hex(),
        PDF,
    )
    damaged = ArchiveFile(8, "b.pdf", "application/pdf", len(PDF), good.sha256, good.sm3, PDF[:-1] + b"\r")
    command = commands.Command(
        uuid.uuid4(), "unit_change", 1, kit.TODAY, {"address": "经十路3号"}, "SB1", (good, damaged)
    )
    with pg.connect(world.dbs.core_url) as core:
        outcome = commands.execute(core, command)
        assert (outcome.status, outcome.reason) == ("failed", "附件校验值不一致：b.pdf")
        assert core.execute("select count(*) from core.archive_file").fetchone() == (0,)
        assert core.execute("select address from core.ab01 where aab001 = 1").fetchone() != ("经十路3号",)


# The pages: the unit uploads, the reviewer of the 统筹区 sees and downloads -------------------------------


@pytest.fixture(scope="module")
def province(servers: Servers) -> Iterator[Province]:
    with staff_kit.own_province(servers, persons=12) as found:
        yield found


@pytest.fixture
def app(province: Province) -> Iterator[Any]:
    built, _ = make_app(province, test_fixed_captcha="TEST", test_fixed_sms_code=staff_kit.CODE)
    yield built


def _count(province: Province, sql: str, *args: Any) -> int:
    with pg.connect(province.hub_url) as hub:
        row = hub.execute(sql, args).fetchone()
    assert row is not None
    return cast(int, row[0])  # each query here selects a bigint: count(*), max(id) or id


def _latest(province: Province, declaration_id: int) -> int:
    return _count(province, "select max(id) from hub.declaration_attachment where declaration_id = %s", declaration_id)


def test_the_unit_uploads_and_the_reviewer_downloads(app: Any, province: Province) -> None:
    unit = province.units[0]
    unit_id, region = int(unit["unit_id"]), str(unit["region_code"])
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url) as query:
        decl = service.create(
            hub, query, kit.unit_operator(unit_id), T.UNIT_CHANGE, {"address": "泉城路1号"}, uuid.uuid4().hex
        )
        hub.commit()
    operator = staff_kit.add_unit_operator(app, province.hub_url, unit_id)
    page = f"/portal/unit/declarations/{decl.id}"
    with TestClient(app, raise_server_exceptions=False) as unit_client:
        staff_kit.log_in(unit_client, "unit_operator", operator["login"], page, unit_code=str(unit_id))
        target = f"/portal/unit/attachments/{decl.id}"

        def upload(name: str, data: bytes, mime: str) -> Any:
            return unit_client.post(
                target,
                data=staff_kit.csrf(unit_client, page),
                files={"file": (name, data, mime)},
                follow_redirects=False,
            )

        refused = upload("scan.pdf", b"MZ\x90\x00" + b"\x00" * 64, "application/pdf")
        assert refused.status_code == 422
        assert "文件类型不支持（仅限 PDF、JPEG、PNG）" in refused.text
        too_big = upload("big.png", image("PNG") + b"\x00" * (5 << 20), "image/png")
        assert too_big.status_code == 413 and "文件过大" in too_big.text
        assert (
            _count(province, "select count(*) from hub.declaration_attachment where declaration_id = %s", decl.id) == 0
        )
        png = image("PNG")
        done = upload("身份证明.png", png, "image/png")
        assert done.status_code == 303, done.text
        shown = unit_client.get(done.headers["location"])
        assert "附件已上传" in shown.text and "身份证明.png" in shown.text
        own = unit_client.get(f"{page}/attachments/{_latest(province, decl.id)}")
        assert own.status_code == 200 and own.content == png
        # 身份证明 in UTF-8, percent-encoded (RFC 5987), after an ASCII fallback name
        encoded = "%E8%BA%AB%E4%BB%BD%E8%AF%81%E6%98%8E.png"
        first_id = _latest(province, decl.id)
        assert own.headers["content-disposition"] == (
            f"attachment; filename=\"attachment-{first_id}.png\"; filename*=UTF-8''{encoded}"
        )
        # a second one, removed again through the page
        assert upload("多余.pdf", PDF, "application/pdf").status_code == 303
        extra = _latest(province, decl.id)
        removed = unit_client.post(
            f"{page}/attachments/{extra}/remove", data=staff_kit.csrf(unit_client, page), follow_redirects=False
        )
        assert removed.status_code == 303
        assert (
            _count(province, "select count(*) from hub.declaration_attachment where declaration_id = %s", decl.id) == 1
        )

    attachment_id = _count(province, "select id from hub.declaration_attachment where declaration_id = %s", decl.id)
    path = f"/portal/staff/declarations/{decl.id}/attachments/{attachment_id}"
    reviewer = staff_kit.add_staff(app, province.hub_url, StaffRole.REVIEWER, (region,))
    with TestClient(app, raise_server_exceptions=False) as staff_client:
        staff_kit.log_in(staff_client, "staff", reviewer["login"], "/portal/staff")
        detail = staff_client.get(f"/portal/staff/declarations/{decl.id}")
        assert detail.status_code == 200 and path in detail.text and "身份证明.png" in detail.text
        got = staff_client.get(path)
        assert got.status_code == 200 and got.content == png
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("attachment;")
    assert (
        _count(
            province,
            "select count(*) from hub.audit_log where action = 'declaration.attachment.read' and actor = %s "
            "and target_id = %s",
            reviewer["account_id"],
            f"{decl.id}/{attachment_id}",
        )
        == 1
    )

    elsewhere = staff_kit.add_staff(app, province.hub_url, StaffRole.REVIEWER, ("999999",))
    with TestClient(app, raise_server_exceptions=False) as other_client:
        staff_kit.log_in(other_client, "staff", elsewhere["login"], "/portal/staff")
        assert other_client.get(path).status_code == 404
        assert other_client.get(f"/portal/staff/declarations/{decl.id}").status_code == 404
