"""联系方式变更 with a 通讯地址 and 邮政编码: checked before anything is written, applied by the core to AC01, carried
by the sync into ``person_overview`` sealed (no plaintext in the store), equal under ``sync verify`` and after a
backfill, shown in full to the person (portal, app) and as its province/city part on a kiosk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core import commands
from hub import pg
from hub.access.channels import mask_address, mask_postal_code
from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.errors import ValidationFailed
from hub.persons import requests as pr
from hub.persons.requests import Status
from sync.backfill import backfill
from sync.models import ROW_MODELS
from sync.projections import Change, Upsert, project
from sync.verify import verify
from tests.api.conftest import Api, Province, make_api
from tests.channels.people import bearer, device, holder, kiosk_session
from tests.identity.oauthkit import hidden
from tests.persons_requests.conftest import Env, new_phone
from tests.portal.kit import PERSON_PW

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
# 𠮷 (U+20BB7) lies outside the Basic Multilingual Plane: one character, four bytes in UTF-8.
ADDRESS = "山东省济南市历下区𠮷祥路88号3单元"
POSTAL = "250014"


def person(env: Env, person_id: int) -> Subject:
    account = str(env.h("select id from hub.account where person_id = %s", person_id)[0][0])
    return Subject(SubjectKind.PERSON, account, "portal", Channel.PORTAL, frozenset(), person_id=person_id)


def core_contact(env: Env, person_id: int) -> tuple[Any, ...]:
    with pg.connect(env.world.dbs.core_url) as core:
        row = core.execute("select aac067, address, postal_code from core.ac01 where aac001 = %s", (person_id,))
        found = row.fetchone()
    assert found is not None
    return tuple(found)


def store_row(env: Env, person_id: int) -> tuple[Any, ...]:
    return env.q("select address, address_enc, postal_code from person_overview where person_id = %s", person_id)[0]


def send_code(env: Env, me: Subject, phone: str) -> tuple[str, str]:
    hub = env.hub()
    sent = pr.send_contact_code(hub, env.redis, env.cfg, me, phone=phone, ip="10.0.0.1", now=NOW)
    hub.commit()
    return sent.ticket, env.code_to(phone)


def change(env: Env, me: Subject, phone: str, ticket: str, code: str, key: str, **extra: Any) -> pr.PersonRequest:
    hub = env.hub()
    done = pr.change_contact(
        hub, env.cfg, me, phone=phone, ticket=ticket, code=code, password=PERSON_PW, idempotency_key=key,
        source="10.0.0.1", now=NOW, **extra,
    )  # fmt: skip
    hub.commit()
    return done


# Rules, by hand -------------------------------------------------------------------------------------------


def test_address_and_postal_code_rules() -> None:
    assert pr.contact_address(ADDRESS) == ADDRESS and len(ADDRESS) == 18  # 9 + 𠮷祥路 + 88号 + 3单元
    assert pr.contact_address("  ") is None and pr.contact_address(None) is None  # not given
    assert pr.contact_address("北京市朝阳区１２号") == "北京市朝阳区12号"  # full-width digits as NFKC gives them
    assert pr.contact_address("甲" * 100) == "甲" * 100
    assert pr.contact_address("甲" * 99 + "𠮷") == "甲" * 99 + "𠮷"  # 𠮷 is one character (four UTF-8 bytes)
    for bad, message in (
        ("甲" * 101, "通讯地址不能超过100个字"),
        ("山东省济南市\x00历下区", "控制字符"),
        ("山东省济南市\n历下区", "控制字符"),
        ("山东省\u202e济南市", "控制字符"),  # a right-to-left override would reorder what staff read
    ):
        with pytest.raises(ValidationFailed) as refused:
            pr.contact_address(bad)
        assert message in refused.value.detail
        assert refused.value.extensions["errors"][0]["field"] == "address"
    assert pr.postal_code("010000") == "010000"  # 呼和浩特: a leading 0 is valid
    assert pr.postal_code(" 250014 ") == "250014" and pr.postal_code("") is None
    for bad in ("2500140", "25001", "25001a", "２５００１４"):
        with pytest.raises(ValidationFailed) as refused:
            pr.postal_code(bad)
        assert refused.value.detail == "邮政编码应为6位数字"


def test_masking_of_a_public_screen() -> None:
    assert mask_address(ADDRESS) == "山东省济南市***"
    assert mask_address("济南市历下区") == "济南市***"  # six characters or fewer: only the first half
    assert mask_postal_code("250014") == "25****"


def test_an_older_change_image_without_the_new_columns_still_projects() -> None:
    model = next(m for m in ROW_MODELS if m.name == "person_overview")
    image = {
        "aac001": 7, "aac058": "01", "aac002": "370102199001010011", "aac003": "张三", "aac004": "1", "aac005": "01",
        "aac006": "1990-01-01", "aac007": "2012-07-01", "aac067": "13900000007", "aaa027": "370102", "aac084": "0",
        "aic162": None, "position_level": None,
    }  # fmt: skip
    (op,) = [o for o in project(Change(1, 1, "ac01", "I", None, image, NOW)) if isinstance(o, Upsert)]
    assert op.model == model.name and op.values["address"] is None and op.values["postal_code"] is None
    (newer,) = project(Change(2, 2, "ac01", "I", None, {**image, "address": ADDRESS, "postal_code": POSTAL}, NOW))
    assert isinstance(newer, Upsert) and (newer.values["address"], newer.values["postal_code"]) == (ADDRESS, POSTAL)


# Through the core and the sync ----------------------------------------------------------------------------


def test_bad_address_or_postal_code_writes_nothing_and_keeps_the_code(env: Env) -> None:
    me = person(env, 11)
    phone = new_phone()
    ticket, code = send_code(env, me, phone)
    for extra, message in (
        ({"postal": "2500141"}, "邮政编码应为6位数字"),
        ({"address": "甲" * 101}, "通讯地址不能超过100个字"),
        ({"address": "山东省济南市\x00历下区"}, "控制字符"),
        ({"address": "山东省济南市\x07历下区", "postal": POSTAL}, "控制字符"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            change(env, me, phone, ticket, code, "addr-1", **extra)
        env.hub().rollback()
        assert message in refused.value.detail
    assert env.h("select count(*) from hub.person_request") == [(0,)]
    assert env.h("select count(*) from hub.audit_log where action like 'person_request.%%'") == [(0,)]
    # The code was not spent by the refusals: the corrected form goes through with it.
    done = change(env, me, phone, ticket, code, "addr-1", address=ADDRESS, postal=POSTAL)
    assert done.status is Status.SUBMITTED and done.payload == {
        "phone": phone,
        "address": ADDRESS,
        "postal_code": POSTAL,
    }
    assert "通讯地址、邮政编码" in done.summary and ADDRESS not in done.summary


def test_the_core_refuses_a_bad_address_itself(env: Env) -> None:
    before = core_contact(env, 12)
    with pg.connect(env.world.dbs.core_url) as core:
        for payload, reason in (
            ({"address": "济南\x00市"}, "通讯地址含有不允许的控制字符"),
            ({"address": "甲" * 101}, "通讯地址不正确"),
            ({"postal_code": "2500"}, "邮政编码应为6位数字"),
        ):
            outcome = commands.execute(
                core,
                commands.Command(
                    uuid.uuid4(), "person_contact", 0, date(2026, 3, 2),
                    {"person_id": 12, "phone": "13900001234", **payload},
                ),
            )  # fmt: skip
            assert (outcome.status, outcome.reason) == ("failed", reason)
    assert core_contact(env, 12) == before  # nothing written, not even the valid phone


def test_address_through_core_and_sync_sealed_verified_and_backfilled(env: Env) -> None:
    me = person(env, 11)
    phone = new_phone()
    ticket, code = send_code(env, me, phone)
    change(env, me, phone, ticket, code, "addr-2", address=ADDRESS, postal=POSTAL)
    assert env.through_core() == 1
    assert core_contact(env, 11) == (phone, ADDRESS, POSTAL)  # AC01 holds the address, 𠮷 intact

    plain, envelope, postal = store_row(env, 11)
    assert plain is None and envelope is not None and postal == POSTAL
    assert ADDRESS.encode() not in bytes(envelope)  # sealed, not copied
    assert "address_bidx" not in {r[0] for r in env.q(
        "select column_name from information_schema.columns where table_name = 'person_overview'")}  # fmt: skip
    assert env.q("select count(*) from person_overview where address is not null") == [(0,)]

    dbs = env.world.dbs
    reports = {r.name: r for r in verify(dbs.core_url, dbs.query_url, wait_seconds=0)}
    assert all(r.equal for r in reports.values()), [r for r in reports.values() if not r.equal]

    # A changed byte of the envelope is a difference verify reports (it compares the opened plaintext).
    with pg.connect(dbs.query_url) as store:
        store.execute(
            "update person_overview set address_enc = set_byte(address_enc, 20, get_byte(address_enc, 20) # 1) "
            "where person_id = 11"
        )
        store.commit()
    broken = {r.name: r for r in verify(dbs.core_url, dbs.query_url, wait_seconds=0)}
    assert broken["person_overview"].differing == ["(11)"]

    # A rebuild from the core carries the address again (sealed on the COPY path) and verifies equal.
    env.world.sync.close()
    backfill(dbs.core_url, dbs.query_url)
    plain, envelope, postal = store_row(env, 11)
    assert plain is None and envelope is not None and postal == POSTAL
    assert all(r.equal for r in verify(dbs.core_url, dbs.query_url, wait_seconds=0))


# What the person and a kiosk see ---------------------------------------------------------------------------


@pytest.fixture
def api(env: Env) -> Iterator[Api]:
    d = env.world.dbs
    with make_api(d.core_url, d.query_url, d.hub_url, d.redis_url) as a:
        yield a


def test_app_and_kiosk_show_the_address_as_their_channel_masks_it(env: Env, api: Api) -> None:
    account = str(env.h("select id from hub.account where person_id = %s", 11)[0][0])
    app = Subject(SubjectKind.PERSON, account, "app-12333", Channel.APP, frozenset(str(s) for s in PERSON_SCOPES),
                  person_id=11)  # fmt: skip
    phone = new_phone()
    sent = api.client.post("/app/v1/me/contact/code", json={"phone": phone}, headers=bearer(api, app))
    assert sent.status_code == 200, sent.text
    body = {"phone": phone, "ticket": sent.json()["ticket"], "code": env.code_to(phone), "password": PERSON_PW,
            "idempotency_key": "app-addr"}  # fmt: skip
    too_long = api.client.post("/app/v1/me/contact", json={**body, "address": "甲" * 101}, headers=bearer(api, app))
    assert too_long.status_code == 422 and "通讯地址不能超过100个字" in too_long.json()["detail"]
    bad_code = api.client.post("/app/v1/me/contact", json={**body, "postal_code": "1234567"}, headers=bearer(api, app))
    assert bad_code.status_code == 422 and "邮政编码应为6位数字" in bad_code.json()["detail"]
    assert env.h("select count(*) from hub.person_request") == [(0,)]
    done = api.client.post(
        "/app/v1/me/contact", json={**body, "address": ADDRESS, "postal_code": POSTAL}, headers=bearer(api, app)
    )
    assert done.status_code == 200, done.text
    assert env.through_core() == 1

    me = api.client.get("/app/v1/me", headers=bearer(api, app)).json()["data"]
    assert (me["address"], me["postal_code"]) == (ADDRESS, POSTAL)  # the person's own phone app: in full

    province = Province(env.world.dbs.core_url, env.world.dbs.query_url, env.world.dbs.hub_url, "", [], {})
    kiosk = device(Channel.KIOSK)
    h = bearer(api, kiosk, **{"X-Kiosk-Session": kiosk_session(api, kiosk, holder(api, province, 11))})
    shown = api.client.get("/kiosk/v1/me", headers=h).json()["data"]
    assert (shown["address"], shown["postal_code"]) == ("山东省济南市***", "25****")


def test_portal_contact_page_takes_the_address_and_the_home_page_shows_it(env: Env, client: TestClient) -> None:
    form = client.get("/portal/me/contact")
    assert "通讯地址" in form.text and "未登记" in form.text
    phone, key = new_phone(), hidden(form.text, "key")
    sent = client.post("/portal/me/contact/code", data={"csrf_token": hidden(form.text, "csrf_token"), "key": key,
                                                        "phone": phone})  # fmt: skip
    fields = {"csrf_token": hidden(sent.text, "csrf_token"), "key": key, "phone": phone,
              "ticket": hidden(sent.text, "ticket"), "password": PERSON_PW, "code": env.code_to(phone)}  # fmt: skip
    bad = client.post("/portal/me/contact", data={**fields, "address": ADDRESS, "postal_code": "25001"})
    assert bad.status_code == 422 and "邮政编码应为6位数字" in bad.text
    assert ADDRESS in bad.text  # the form keeps what was typed
    assert env.h("select count(*) from hub.person_request") == [(0,)]
    done = client.post("/portal/me/contact", data={**fields, "address": ADDRESS, "postal_code": POSTAL},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert env.through_core() == 1
    home = client.get("/portal/me")
    assert ADDRESS in home.text and POSTAL in home.text
