"""Phone recovery at a hall counter and at a kiosk, and the card status on the hotline, through the gateway,
the core's command API (a real process) and the sync back into the query store."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from hub import pg
from hub.access.scopes import ALL_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import accounts, core_lookup, pins, subjects
from hub.persons import requests as pr
from hub.persons.face_check import FaceResult
from hub.persons.requests import RequestType
from tests.api.conftest import Api, make_api
from tests.channels.people import PIN, bearer, device
from tests.declarations import kit
from tests.persons_requests.conftest import Env, new_phone
from tests.portal.kit import PERSON_PW


@dataclass
class FixedResultFaceCheckForTests:
    """TEST ONLY: a face check whose answer is fixed by the test (no camera, no comparison)."""

    passed: bool
    calls: int = 0

    def check(self, document_type: str, document_number: str, sample: bytes) -> FaceResult:
        self.calls += 1
        return FaceResult(self.passed, "fixed-result-for-tests")


@pytest.fixture
def api(env: Env) -> Iterator[Api]:
    d = env.world.dbs
    with make_api(d.core_url, d.query_url, d.hub_url, d.redis_url) as a:
        yield a


def counter_staff(region: str = kit.REGION) -> Subject:
    return Subject(
        SubjectKind.STAFF, f"hall-op-{uuid.uuid4().hex[:8]}", "portal-web", Channel.PORTAL,
        frozenset(str(s) for s in ALL_SCOPES), roles=frozenset({StaffRole.OPERATOR}), region_codes=frozenset({region}),
    )  # fmt: skip


def id_number(env: Env, person_id: int) -> str:
    with core_lookup.read_only(env.world.dbs.core_url) as core:
        found = core_lookup.get_person(core, person_id)
    assert found is not None
    return found.document_number


def core_phone(env: Env, person_id: int) -> str | None:
    with core_lookup.read_only(env.world.dbs.core_url) as core:
        found = core_lookup.get_person(core, person_id)
    return found.phone if found else None


def login_phone(env: Env, person_id: int) -> str | None:
    with pg.connect(env.world.dbs.hub_url) as conn:
        found = accounts.find_person(conn, person_id)
    return found.phone if found else None


def test_counter_recovery_audited_with_the_staff_id(env: Env, api: Api) -> None:
    staff = counter_staff()
    phone = new_phone()
    start = {"document_number": id_number(env, 11), "id_card_check": "hall_id_card_reader", "phone": phone}
    # A counter of another 统筹区 finds nobody, exactly like an unknown ID number, and sends nothing.
    far = api.client.post("/hall/v1/phone-recovery", json=start, headers=bearer(api, counter_staff("370103")))
    unknown = api.client.post(
        "/hall/v1/phone-recovery", json={**start, "document_number": "110101199003078515"}, headers=bearer(api, staff)
    )
    assert far.status_code == unknown.status_code == 404 and far.json()["title"] == unknown.json()["title"]
    started = api.client.post("/hall/v1/phone-recovery", json=start, headers=bearer(api, staff))
    assert started.status_code == 200, started.text
    ticket = started.json()["ticket"]
    right = env.code_to(phone)  # to the NEW number; the person reads it out at the counter
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = api.client.post("/hall/v1/phone-recovery/verify", headers=bearer(api, staff),
                              json={"ticket": ticket, "code": wrong, "idempotency_key": "c-1"})  # fmt: skip
    assert refused.status_code == 400
    assert env.h("select count(*) from hub.person_request") == [(0,)]
    # Another staff member cannot redeem this counter's code: refused, and the code is dead.
    other = api.client.post("/hall/v1/phone-recovery/verify", headers=bearer(api, counter_staff()),
                            json={"ticket": ticket, "code": right, "idempotency_key": "c-1"})  # fmt: skip
    assert other.status_code == 400
    assert env.h("select count(*) from hub.person_request") == [(0,)]
    dead = api.client.post("/hall/v1/phone-recovery/verify", headers=bearer(api, staff),
                           json={"ticket": ticket, "code": right, "idempotency_key": "c-1"})  # fmt: skip
    assert dead.status_code == 400
    # A new code (another number the person chose; the first is in its resend cooldown).
    phone = new_phone()
    started = api.client.post("/hall/v1/phone-recovery", json={**start, "phone": phone}, headers=bearer(api, staff))
    assert started.status_code == 200, started.text
    body = {"ticket": started.json()["ticket"], "code": env.code_to(phone), "idempotency_key": "c-1"}
    done = api.client.post("/hall/v1/phone-recovery/verify", json=body, headers=bearer(api, staff))
    assert done.status_code == 200, done.text
    assert done.json()["person_id"] == 11 and done.json()["status"] == "submitted"
    again = api.client.post("/hall/v1/phone-recovery/verify", json=body, headers=bearer(api, staff))
    assert again.status_code == 200 and again.json()["request_id"] == done.json()["request_id"]

    assert env.through_core() == 1
    assert core_phone(env, 11) == phone and login_phone(env, 11) == phone
    rows = env.h("select type, status, actor_kind, actor, channel, evidence from hub.person_request")
    assert rows == [("phone_recovery", "applied", "staff", staff.account_id, "hall",
                     {"check": "hall_id_card_reader", "by": staff.account_id})]  # fmt: skip
    audited = env.h(
        "select action, result, target_id from hub.audit_log where actor = %s order by at, seq", staff.account_id
    )
    assert ("person_request.recovery_identity", "ok", "11") in audited
    assert ("person_request.submitted", "ok", str(done.json()["request_id"])) in audited


def test_counter_recovery_needs_a_data_role(env: Env, api: Api) -> None:
    admin = Subject(SubjectKind.STAFF, "sysadmin-1", "portal-web", Channel.PORTAL,
                    frozenset(str(s) for s in ALL_SCOPES), roles=frozenset({StaffRole.SYSTEM_ADMIN}),
                    region_codes=frozenset({kit.REGION}))  # fmt: skip
    refused = api.client.post(
        "/hall/v1/phone-recovery",
        json={"document_number": id_number(env, 11), "id_card_check": "hall_id_card_visual", "phone": new_phone()},
        headers=bearer(api, admin),
    )
    assert refused.status_code == 403


def _pin(env: Env, api: Api, person_id: int) -> None:
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    with pg.connect(env.world.dbs.hub_url) as hub, pg.connect(env.world.dbs.core_url) as core:
        account = accounts.find_person(hub, person_id)
        assert account is not None
        me = subjects.for_account(
            account,
            client_id="portal-web",
            channel=Channel.PORTAL,
            scopes=subjects.PERSON_SCOPES,
            grant_id=None,
            auth_methods=("pwd", "sms"),
        )
        pins.set_pin(hub, core, rt.cfg, me, pin=PIN, confirm=PIN, now=datetime.now(UTC))


def test_kiosk_recovery_with_card_and_pin(env: Env, api: Api) -> None:
    _pin(env, api, 12)
    kiosk, elsewhere = device(Channel.KIOSK), device(Channel.KIOSK)
    opened = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": "A00000012", "pin": PIN}, headers=bearer(api, kiosk)
    )
    assert opened.status_code == 200, opened.text
    session = {"X-Kiosk-Session": opened.json()["session"]}
    phone = new_phone()
    sent = api.client.post("/kiosk/v1/me/phone/code", json={"phone": phone}, headers=bearer(api, kiosk, **session))
    assert sent.status_code == 200, sent.text
    body = {"ticket": sent.json()["ticket"], "code": env.code_to(phone), "idempotency_key": "k-1"}
    # The session belongs to this kiosk: another kiosk with the token gets an ended session.
    stolen = api.client.post("/kiosk/v1/me/phone", json=body, headers=bearer(api, elsewhere, **session))
    assert stolen.status_code == 401
    done = api.client.post("/kiosk/v1/me/phone", json=body, headers=bearer(api, kiosk, **session))
    assert done.status_code == 200, done.text
    assert env.through_core() == 1
    assert core_phone(env, 12) == phone and login_phone(env, 12) == phone
    assert env.h("select evidence from hub.person_request") == [({"check": "kiosk_card_pin", "by": kiosk.client_id},)]


def test_kiosk_recovery_with_id_card_and_face_check(env: Env, api: Api) -> None:
    kiosk = device(Channel.KIOSK)
    phone = new_phone()
    start = {"document_number": id_number(env, 11), "phone": phone,
             "face_sample": base64.b64encode(b"sample").decode()}  # fmt: skip
    app = api.client.app
    unconfigured = api.client.post("/kiosk/v1/phone-recovery/id-card", json=start, headers=bearer(api, kiosk))
    assert unconfigured.status_code == 503
    app.state.face_check = FixedResultFaceCheckForTests(passed=False)  # type: ignore[attr-defined]
    failed = api.client.post("/kiosk/v1/phone-recovery/id-card", json=start, headers=bearer(api, kiosk))
    assert failed.status_code == 403 and "人脸核验未通过" in failed.json()["title"]
    assert env.h("select count(*) from hub.verification_code where purpose = 'phone_recovery_kiosk'") == [(0,)]
    app.state.face_check = FixedResultFaceCheckForTests(passed=True)  # type: ignore[attr-defined]
    sent = api.client.post("/kiosk/v1/phone-recovery/id-card", json=start, headers=bearer(api, kiosk))
    assert sent.status_code == 200, sent.text
    done = api.client.post(
        "/kiosk/v1/phone-recovery/id-card/verify",
        json={"ticket": sent.json()["ticket"], "code": env.code_to(phone), "idempotency_key": "f-1"},
        headers=bearer(api, kiosk),
    )
    assert done.status_code == 200, done.text
    assert env.through_core() == 1
    assert core_phone(env, 11) == phone
    assert env.h("select actor_kind, actor, evidence from hub.person_request") == [
        ("client", kiosk.client_id, {"check": "kiosk_id_card_face", "by": kiosk.client_id})
    ]


def test_card_loss_and_reversal_on_the_hotline(env: Env, api: Api) -> None:
    _pin(env, api, 11)
    line = device(Channel.HOTLINE)
    me = Subject(SubjectKind.PERSON, str(env.h("select id from hub.account where person_id = 11")[0][0]), "portal",
                 Channel.PORTAL, frozenset(), person_id=11)  # fmt: skip

    def spoken() -> str:
        call = api.client.post("/hotline/v1/calls", json={"keyed_id_number": env.me.document_number.replace("X", "*"),
                                                           "pin": PIN}, headers=bearer(api, line))  # fmt: skip
        assert call.status_code == 200, call.text
        answer = api.client.get("/hotline/v1/calls/current/card",
                                headers=bearer(api, line, **{"X-Hotline-Call": call.json()["call"]}))  # fmt: skip
        assert answer.status_code == 200, answer.text
        return str(answer.json()["text"])

    # The card was issued on 2019-03-08 (conftest.seed_persons).
    assert spoken() == "您的社会保障卡状态为正常，发卡日期为二〇一九年三月八日。"
    hub = env.hub()
    pr.report_card(hub, env.cfg, me, RequestType.CARD_LOSS, idempotency_key="l", source="s",
                   now=datetime.now(UTC), password=PERSON_PW)  # fmt: skip
    hub.commit()
    env.through_core()
    assert env.q("select status from card where person_id = 11") == [("2",)]
    assert spoken() == "您的社会保障卡状态为挂失，发卡日期为二〇一九年三月八日。"
    pr.report_card(hub, env.cfg, me, RequestType.CARD_UNLOSS, idempotency_key="u", source="s",
                   now=datetime.now(UTC), password=PERSON_PW)  # fmt: skip
    hub.commit()
    env.through_core()
    assert env.q("select status from card where person_id = 11") == [("1",)]
    assert spoken() == "您的社会保障卡状态为正常，发卡日期为二〇一九年三月八日。"
