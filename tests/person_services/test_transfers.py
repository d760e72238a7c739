"""养老保险关系转移接续: the state machine (illegal moves refused), the person's application and dated
history through the pages, staff handling in the workbench, and the 404 for anyone else's item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.errors import NotFound, ValidationFailed
from hub.persons import transfers
from hub.persons.transfers import TransferForm, TransferStatus
from tests.api.conftest import Province
from tests.person_services import kit, pages

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
S = TransferStatus


def form(**over: str) -> TransferForm:
    values = {
        "direction": "in", "other_region_code": "440100", "other_region_name": "广东省广州市", "other_scheme": "110",
        "other_agency": "广州市社会保险基金管理局", "reason": "工作调动到本地机关", "contact_phone": "13912345678",
    }  # fmt: skip
    values.update(over)
    return TransferForm(**values)


def test_the_state_machine() -> None:
    expected = {
        (S.APPLIED, S.ACCEPTED), (S.APPLIED, S.REFUSED), (S.ACCEPTED, S.LETTER), (S.LETTER, S.TRANSFERRING),
        (S.TRANSFERRING, S.COMPLETED),
    }  # fmt: skip
    for a in S:
        for b in S:
            assert transfers.allowed(a, b) == ((a, b) in expected), (a, b)
    assert transfers.status_label("letter", "in") == "联系函已发"
    assert transfers.status_label("letter", "out") == "联系函已接收"


def test_form_errors_are_named_per_field() -> None:
    errors = transfers.check_form(form(direction="x", other_region_code="44010", contact_phone="021-1234", reason=""))
    assert set(errors) == {"direction", "other_region_code", "contact_phone", "reason"}
    assert transfers.check_form(form()) == {}


def test_service_flow_refuses_illegal_moves_and_other_regions(province: Province) -> None:
    person_id = kit.workers(province)[0]
    region = kit.region_of(province, person_id)
    officer, outsider = kit.staff(region), kit.staff("439999")
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        made = transfers.apply(hub, store, kit.person(person_id), form(), NOW)
        hub.commit()
        tid = int(made["id"])
        assert made["status"] == "applied" and made["region_code"] == region
        with pytest.raises(transfers.IllegalTransition):
            transfers.advance(hub, officer, tid, "completed", now=NOW)
        hub.commit()  # the refusal's audit record
        with pytest.raises(NotFound):
            transfers.advance(hub, outsider, tid, "accepted", now=NOW)
        hub.rollback()
        with pytest.raises(NotFound):
            transfers.get_own(hub, kit.person(person_id + 1), tid)
        steps = ["accepted", "letter", "transferring", "completed"]
        for i, step in enumerate(steps, start=1):
            transfers.advance(hub, officer, tid, step, note=f"第{i}步", now=NOW + timedelta(days=i))
            hub.commit()
        with pytest.raises(transfers.IllegalTransition):
            transfers.advance(hub, officer, tid, "refused", note="太晚了", now=NOW + timedelta(days=9))
        hub.rollback()
        item, events = transfers.get_own(hub, kit.person(person_id), tid)
    assert item["status"] == "completed"
    assert [(e["status"], e["at"]) for e in events] == [("applied", NOW)] + [
        (step, NOW + timedelta(days=i)) for i, step in enumerate(steps, start=1)
    ]
    audited = kit.audit_rows(province.hub_url, "transfer.advance", str(tid))
    assert [r["result"] for r in audited] == ["refused"]


def test_refusal_needs_a_reason(province: Province) -> None:
    person_id = kit.workers(province)[1]
    officer = kit.staff(kit.region_of(province, person_id))
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        tid = int(transfers.apply(hub, store, kit.person(person_id), form(direction="out"), NOW)["id"])
        hub.commit()
        with pytest.raises(ValidationFailed):
            transfers.advance(hub, officer, tid, "refused", note="  ", now=NOW)
        hub.rollback()
        done = transfers.advance(hub, officer, tid, "refused", note="缺少原参保地缴费凭证", now=NOW)
        hub.commit()
    assert (done["status"], done["refusal_reason"]) == ("refused", "缺少原参保地缴费凭证")


def _count(hub_url: str, person_id: int) -> int:
    with pg.connect(hub_url) as hub:
        row = hub.execute("select count(*) from hub.person_transfer where person_id = %s", (person_id,)).fetchone()
    assert row is not None
    return cast(int, row[0])  # count(): bigint


def test_pages_apply_follow_and_handle(province: Province) -> None:
    me_id, other_id = kit.workers(province)[2], kit.workers(province)[3]
    region = kit.region_of(province, me_id)
    with TestClient(pages.app_for(province), raise_server_exceptions=False) as client:
        officer, outsider = pages.new_staff(client, province, region), pages.new_staff(client, province, "439999")
        mine = pages.as_person(client, province, me_id, "/portal/me/transfers")
        page = client.get("/portal/me/transfers")
        assert page.status_code == 200 and "申请转移接续" in page.text
        before = _count(province.hub_url, me_id)
        fields = {
            "csrf_token": pages.csrf(page.text), "direction": "in", "other_region_code": "440100",
            "other_region_name": "广东省广州市", "other_scheme": "110", "other_agency": "广州市社会保险基金管理局",
            "reason": "工作调动到本地机关", "contact_phone": "13912345678",
        }  # fmt: skip

        # A wrong field: the form comes back with the error next to it, nothing is written.
        bad = client.post("/portal/me/transfers", data={**fields, "other_region_code": "12"})
        assert bad.status_code == 422 and "请填写6位行政区划代码" in bad.text
        assert _count(province.hub_url, me_id) == before
        # Without the CSRF token nothing is accepted either.
        forged = client.post("/portal/me/transfers", data={**fields, "csrf_token": ""}, follow_redirects=False)
        assert forged.status_code in (400, 403) and _count(province.hub_url, me_id) == before

        done = client.post("/portal/me/transfers", data=fields, follow_redirects=False)
        assert done.status_code == 303, done.text
        detail_url = done.headers["location"].split("?")[0]
        tid = detail_url.rsplit("/", 1)[1]
        shown = client.get(detail_url)
        assert shown.status_code == 200 and "已申请" in shown.text and "广东省广州市" in shown.text

        # Another person, and staff of another 统筹区, get exactly the missing-record answer.
        pages.as_person(client, province, other_id)
        assert client.get(detail_url).status_code == 404
        assert client.get("/portal/me/transfers/999999999").status_code == 404
        pages.as_staff(client, outsider, "/portal/staff/persons/transfers")
        assert client.get(f"/portal/staff/persons/transfers/{tid}").status_code == 404
        assert f"/portal/staff/persons/transfers/{tid}" not in client.get("/portal/staff/persons/transfers").text

        # Staff of the person's 统筹区 accept it; an illegal jump is refused; the person sees the dated step.
        pages.as_staff(client, officer, "/portal/staff/persons/transfers")
        queue = client.get("/portal/staff/persons/transfers")
        assert queue.status_code == 200 and f"/portal/staff/persons/transfers/{tid}" in queue.text
        token = pages.csrf(client.get(f"/portal/staff/persons/transfers/{tid}").text)
        url = f"/portal/staff/persons/transfers/{tid}/advance"
        moved = client.post(url, data={"csrf_token": token, "target": "accepted", "note": "材料齐全"},
                            follow_redirects=False)  # fmt: skip
        assert moved.status_code == 303, moved.text
        illegal = client.post(url, data={"csrf_token": token, "target": "completed", "note": ""})
        assert illegal.status_code == 409
        pages.use(client, mine)
        followed = client.get(detail_url)
        assert followed.status_code == 200 and "受理" in followed.text and "材料齐全" in followed.text
