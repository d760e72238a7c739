"""The personal portal's pages: 联系方式变更 with a code to the new number and the login password, 社保卡挂失
and 办理进度, through the core's command API and back through the query store."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.identity.oauthkit import hidden
from tests.persons_requests.conftest import Env, new_phone
from tests.portal.kit import PERSON_PW


def test_contact_change_pages(env: Env, client: TestClient) -> None:
    form = client.get("/portal/me/contact")
    assert form.status_code == 200 and "139****0011" in form.text  # the phone on record, masked
    phone = new_phone()
    key, csrf = hidden(form.text, "key"), hidden(form.text, "csrf_token")
    bad = client.post("/portal/me/contact/code", data={"csrf_token": csrf, "key": key, "phone": "12345"})
    assert bad.status_code == 422 and "请输入正确的11位手机号码" in bad.text
    sent = client.post("/portal/me/contact/code", data={"csrf_token": csrf, "key": key, "phone": phone})
    assert sent.status_code == 200 and f"验证码已发送至 {phone[:3]}****{phone[-4:]}" in sent.text
    fields = {"csrf_token": hidden(sent.text, "csrf_token"), "key": key, "phone": phone,
              "ticket": hidden(sent.text, "ticket"), "password": PERSON_PW}  # fmt: skip
    right = env.code_to(phone)
    wrong = client.post("/portal/me/contact", data={**fields, "code": f"{(int(right) + 7) % 1_000_000:06d}"})
    assert wrong.status_code == 400 and "验证码错误" in wrong.text
    assert env.h("select count(*) from hub.person_request") == [(0,)]
    done = client.post("/portal/me/contact", data={**fields, "code": right}, follow_redirects=False)
    assert done.status_code == 303
    twice = client.post("/portal/me/contact", data={**fields, "code": right}, follow_redirects=False)
    assert twice.headers["location"] == done.headers["location"]  # one request for one form
    detail = client.get(done.headers["location"])
    assert "联系方式变更" in detail.text and "已提交" in detail.text and phone not in detail.text

    assert env.through_core() == 1
    detail = client.get(done.headers["location"])
    assert 'id="request-status">已办结' in detail.text
    assert f"{phone[:3]}****{phone[-4:]}" in client.get("/portal/me/contact").text  # the phone on record now


def test_card_loss_page_and_progress(env: Env, client: TestClient) -> None:
    page = client.get("/portal/me/card")
    assert 'id="card-status">正常' in page.text and "确认挂失" in page.text
    data = {"csrf_token": hidden(page.text, "csrf_token"), "key": hidden(page.text, "key"), "action": "card_loss"}
    wrong = client.post("/portal/me/card", data={**data, "password": "Wrong@2026pw"})
    assert wrong.status_code == 401 and "登录密码不正确" in wrong.text
    done = client.post("/portal/me/card", data={**data, "password": PERSON_PW}, follow_redirects=False)
    assert done.status_code == 303
    assert env.through_core() == 1
    page = client.get("/portal/me/card")
    assert 'id="card-status">挂失' in page.text and "确认解除挂失" in page.text
    progress = client.get("/portal/me/requests")
    assert "社保卡挂失" in progress.text and "已办结" in progress.text
    # Another person's request answers like a missing one.
    other_id = int(done.headers["location"].rsplit("/", 1)[1]) + 1000
    assert client.get(f"/portal/me/requests/{other_id}").status_code == 404
