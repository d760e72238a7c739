"""权益记录核查: an objection to one contribution month or account year with evidence files (type by
content, a bad file refuses the whole objection and writes nothing), the agency's answer with a push
notice, what the person sees, and the 404 for anyone else's objection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.config.push import PushSettings
from hub.declarations import attachments
from hub.errors import NotFound, ValidationFailed
from hub.persons import objections
from hub.persons.objections import Evidence, ObjectionForm
from tests.api.conftest import Province
from tests.person_services import kit, pages

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\n"
    b"endobj\nxref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n"
    b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%EOF\n"
)
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 100  # a Windows program named .pdf


def test_the_sample_files_are_what_they_claim() -> None:
    assert attachments.sniff(PDF) == "application/pdf"
    with pytest.raises(attachments.AttachmentRefused):
        attachments.sniff(PROGRAM)


def _record(province: Province, person_id: int) -> tuple[int, str]:
    with pg.connect(province.query_url) as store:
        row = store.execute(
            "select period, insurance from contribution_month where person_id = %s order by period desc limit 1",
            (person_id,),
        ).fetchone()
    assert row is not None
    return cast(int, row[0]), str(row[1])  # period: integer


def _counts(hub_url: str, person_id: int) -> tuple[int, int]:
    with pg.connect(hub_url) as hub:
        row = hub.execute(
            "select count(distinct o.id), count(f.id) from hub.record_objection o "
            "left join hub.record_objection_file f on f.objection_id = o.id where o.person_id = %s",
            (person_id,),
        ).fetchone()
    assert row is not None
    return cast(int, row[0]), cast(int, row[1])  # count(): bigint


def test_service_refuses_bad_input_without_writing_and_answers(province: Province) -> None:
    person_id = kit.workers(province)[4]
    period, insurance = _record(province, person_id)
    me = kit.person(person_id)
    officer, outsider = kit.staff(kit.region_of(province, person_id)), kit.staff("439999")
    good = ObjectionForm("contribution", period // 100, period % 100, insurance, None, "该月缴费基数与工资不符")
    before = _counts(province.hub_url, person_id)
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        for form, files in (
            (good, [Evidence("工资单.pdf", PDF), Evidence("工资单2.pdf", PROGRAM)]),  # the second file is a program
            (good, [Evidence(f"{i}.pdf", PDF) for i in range(objections.MAX_FILES + 1)]),  # too many
            (good, [Evidence("big.pdf", PDF + b"0" * objections.MAX_FILE_BYTES)]),  # too large
            (ObjectionForm("contribution", 1991, 1, insurance, None, "这个月份没有记录"), []),  # no such record
            (ObjectionForm("account", 2025, None, None, "OTHER", "账户类型不存在"), []),
            (ObjectionForm("contribution", 2025, 1, insurance, None, "短"), []),  # statement too short
        ):
            with pytest.raises(ValidationFailed):
                objections.submit(hub, store, me, form, files, NOW)
            hub.rollback()
        assert _counts(province.hub_url, person_id) == before

        made = objections.submit(hub, store, me, good, [Evidence("工资单.pdf", PDF)], NOW)
        hub.commit()
        oid = int(made["id"])
        assert _counts(province.hub_url, person_id) == (before[0] + 1, before[1] + 1)
        with pytest.raises(NotFound):
            objections.get_own(hub, kit.person(person_id + 1), oid)
        with pytest.raises(NotFound):
            objections.get_for_staff(hub, outsider, oid)
        with pytest.raises(objections.IllegalAnswer):
            objections.answer(hub, officer, oid, "corrected", "", now=NOW)  # not accepted yet
        with pytest.raises(ValidationFailed):
            objections.answer(hub, officer, oid, "rejected", " ", now=NOW)  # a rejection needs its reason
        hub.rollback()
        push = PushSettings()
        objections.answer(hub, officer, oid, "accepted", "经核实单位申报有误", now=NOW + timedelta(days=1),
                          phone="13912345678", push=push)  # fmt: skip
        hub.commit()
        done = objections.answer(hub, officer, oid, "corrected", "", now=NOW + timedelta(days=5), push=push)
        hub.commit()
        item, item_files = objections.get_own(hub, me, oid)
        notices = hub.execute(
            "select source_key from hub.push_notice where person_id = %s and source_key like %s order by id",
            (person_id, f"objection:{oid}:%"),
        ).fetchall()
        sms = hub.execute(
            "select template from hub.sms_message where reference = %s", (f"objection:{oid}:accepted",)
        ).fetchall()
    assert done["status"] == "corrected" and item["corrected_at"] == NOW + timedelta(days=5)
    assert item["answer"] == "经核实单位申报有误" and [f["filename"] for f in item_files] == ["工资单.pdf"]
    assert [n[0] for n in notices] == [f"objection:{oid}:accepted", f"objection:{oid}:corrected"]
    assert sms == [("business_done",)]  # no app: the notice went by SMS


def test_pages_object_with_evidence_and_see_the_answer(province: Province) -> None:
    person_id, other_id = kit.workers(province)[5], kit.workers(province)[6]
    period, insurance = _record(province, person_id)
    region = kit.region_of(province, person_id)
    with TestClient(pages.app_for(province), raise_server_exceptions=False) as client:
        officer, outsider = pages.new_staff(client, province, region), pages.new_staff(client, province, "439999")
        mine = pages.as_person(client, province, person_id, "/portal/me/contributions")
        listed = client.get("/portal/me/contributions")
        link = f"/portal/me/objections?target=contribution&amp;period={period}&amp;insurance={insurance}"
        assert listed.status_code == 200 and link in listed.text
        form = client.get(link.replace("&amp;", "&"))
        assert form.status_code == 200 and f'value="{period // 100}"' in form.text
        fields = {
            "csrf_token": pages.csrf(form.text), "target": "contribution", "year": str(period // 100),
            "month": str(period % 100), "insurance": insurance, "statement": "该月缴费基数比实际工资低",
        }  # fmt: skip
        before = _counts(province.hub_url, person_id)

        refused = client.post("/portal/me/objections/new", data=fields,
                              files=[("files", ("工资单.pdf", PROGRAM, "application/pdf"))])  # fmt: skip
        assert refused.status_code == 422 and "工资单.pdf" in refused.text and "PDF" in refused.text
        assert _counts(province.hub_url, person_id) == before

        done = client.post("/portal/me/objections/new", data=fields, follow_redirects=False,
                           files=[("files", ("工资单.pdf", PDF, "application/pdf"))])  # fmt: skip
        assert done.status_code == 303, done.text
        url = done.headers["location"].split("?")[0]
        oid = url.rsplit("/", 1)[1]
        assert "已提交" in client.get(url).text

        pages.as_person(client, province, other_id)
        assert client.get(url).status_code == 404
        pages.as_staff(client, outsider, "/portal/staff/persons/objections")
        assert client.get(f"/portal/staff/persons/objections/{oid}").status_code == 404

        pages.as_staff(client, officer, "/portal/staff/persons/objections")
        detail = client.get(f"/portal/staff/persons/objections/{oid}")
        assert detail.status_code == 200 and "该月缴费基数比实际工资低" in detail.text
        with pg.connect(province.hub_url) as hub:
            file_id = hub.execute(
                "select id from hub.record_objection_file where objection_id = %s", (int(oid),)
            ).fetchone()
        assert file_id is not None
        download = client.get(f"/portal/staff/persons/objections/{oid}/files/{file_id[0]}")
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["content-disposition"].startswith("attachment")
        answered = client.post(f"/portal/staff/persons/objections/{oid}/answer", follow_redirects=False,
                               data={"csrf_token": pages.csrf(detail.text), "target": "rejected",
                                     "answer": "经核对工资发放记录，基数无误"})  # fmt: skip
        assert answered.status_code == 303, answered.text

        pages.use(client, mine)
        seen = client.get(url)
        assert "不予更正" in seen.text and "经核对工资发放记录，基数无误" in seen.text
    # The person has no app: the answer went by SMS to the phone the store holds (sealed there).
    with pg.connect(province.hub_url) as hub:
        sms = hub.execute(
            "select template from hub.sms_message where reference = %s", (f"objection:{oid}:rejected",)
        ).fetchall()
    assert sms == [("business_done",)]
