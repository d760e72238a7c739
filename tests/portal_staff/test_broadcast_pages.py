"""短信群发 pages: a staff member sees a job's progress; approval needs a second person; start and pause
move the job; a unit operator is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import StaffRole
from hub.config.sms import SmsSettings
from sms import jobs
from tests.api.conftest import Province
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit


@pytest.fixture
def app(staff_province: Province) -> Iterator[Any]:
    built, _ = make_app(staff_province, test_fixed_captcha="TEST", test_fixed_sms_code=kit.CODE)
    yield built


def _job(province: Province, creator: str) -> int:
    csv = "phone,content\n13900001111,本周六经办大厅照常办公。\n13900002222,本周六经办大厅照常办公。\n"
    with pg.connect(province.hub_url) as conn:
        job_id = jobs.create_from_upload(
            conn, title="大厅办公通知", template="staff_notice", data=csv, created_by=creator
        )
        jobs.preview(conn, job_id, SmsSettings())
        conn.commit()
    return job_id


def _post(client: TestClient, path: str, page: str) -> Any:
    form = client.get(page)
    token = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.text))
    return client.post(path, data={"csrf_token": token["csrf_token"]}, follow_redirects=False)


def test_progress_and_the_second_person_rule(app: Any, staff_province: Province) -> None:
    creator = kit.add_staff(app, staff_province.hub_url, StaffRole.OPERATOR, ("430100",))
    reviewer = kit.add_staff(app, staff_province.hub_url, StaffRole.REVIEWER, ("430100",))
    job_id = _job(staff_province, creator["account_id"])
    page = f"/portal/staff/sms/{job_id}"
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], "/portal/staff/sms")
        listing = client.get("/portal/staff/sms")
        assert listing.status_code == 200 and "大厅办公通知" in listing.text
        detail = client.get(page)
        assert "草稿" in detail.text and 'max="2"' in detail.text  # two recipients, none sent yet
        own = _post(client, f"{page}/approve", page)
        assert own.status_code == 422 and "创建人以外" in own.text  # the creator may not approve

    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", reviewer["login"], page)
        assert _post(client, f"{page}/approve", page).status_code == 303
        assert _post(client, f"{page}/start", page).status_code == 303
        running = client.get(page)
        assert "发送中" in running.text and 'http-equiv="refresh"' in running.text
        assert _post(client, f"{page}/pause", page).status_code == 303
        assert "已暂停" in client.get(page).text
        assert client.get("/portal/staff/sms/999999999").status_code == 404
    with pg.connect(staff_province.hub_url) as conn:
        assert jobs.get(conn, job_id)["approved_by"] == reviewer["account_id"]


def test_unit_operators_are_refused(app: Any, staff_province: Province) -> None:
    unit = staff_province.units[0]
    operator = kit.add_unit_operator(app, staff_province.hub_url, unit["unit_id"])
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "unit_operator", operator["login"], "/portal/unit", str(unit["unit_id"]))
        assert client.get("/portal/staff/sms").status_code == 403
