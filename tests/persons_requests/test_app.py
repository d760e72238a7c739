"""The app's person requests (``/app/v1/me``): 社保卡挂失 with the login password, 办理进度, and another
person's request answering like a missing one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from tests.api.conftest import Api, make_api
from tests.channels.people import bearer
from tests.persons_requests.conftest import Env, new_phone
from tests.portal.kit import PERSON_PW


@pytest.fixture
def api(env: Env) -> Iterator[Api]:
    d = env.world.dbs
    with make_api(d.core_url, d.query_url, d.hub_url, d.redis_url) as a:
        yield a


def app_person(env: Env, person_id: int) -> Subject:
    account = str(env.h("select id from hub.account where person_id = %s", person_id)[0][0])
    return Subject(SubjectKind.PERSON, account, "app-12333", Channel.APP,
                   frozenset(str(s) for s in PERSON_SCOPES), person_id=person_id)  # fmt: skip


def test_card_loss_and_progress_in_the_app(env: Env, api: Api) -> None:
    me, other = app_person(env, 11), app_person(env, 12)
    body = {"idempotency_key": "app-1", "password": PERSON_PW}
    lost = api.client.post("/app/v1/me/card/loss", json=body, headers=bearer(api, me))
    assert lost.status_code == 200, lost.text
    assert lost.json()["status"] == "submitted" and lost.json()["type_label"] == "社保卡挂失"
    again = api.client.post("/app/v1/me/card/loss", json=body, headers=bearer(api, me))
    assert again.json()["id"] == lost.json()["id"]
    assert env.through_core() == 1
    assert env.q("select status from card where person_id = 11") == [("2",)]
    detail = api.client.get(f"/app/v1/me/requests/{lost.json()['id']}", headers=bearer(api, me))
    assert [e["status"] for e in detail.json()["events"]] == ["submitted", "sent", "applied"]
    foreign = api.client.get(f"/app/v1/me/requests/{lost.json()['id']}", headers=bearer(api, other))
    missing = api.client.get(f"/app/v1/me/requests/{lost.json()['id'] + 1000}", headers=bearer(api, other))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["title"] == missing.json()["title"]
    assert api.client.get("/app/v1/me/requests", headers=bearer(api, other)).json() == []


def test_contact_code_goes_to_the_new_number(env: Env, api: Api) -> None:
    me = app_person(env, 11)
    phone = new_phone()
    sent = api.client.post("/app/v1/me/contact/code", json={"phone": phone}, headers=bearer(api, me))
    assert sent.status_code == 200, sent.text
    env.code_to(phone)  # raises unless a code went to the new number
    wrong = api.client.post("/app/v1/me/contact", headers=bearer(api, me), json={
        "phone": phone, "ticket": sent.json()["ticket"], "code": "000000" if env.code_to(phone) != "000000"
        else "111111", "password": PERSON_PW, "idempotency_key": "c"})  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["code"] == "INVALID_REQUEST"
    assert "验证码错误" in wrong.json()["detail"]
    assert env.h("select count(*) from hub.person_request") == [(0,)]
