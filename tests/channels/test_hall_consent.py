"""Hall counter (大厅服务) and agent-desk lookups: staff read a person only under that person's consent.

Through the gateway, against the seeded province: an SMS consent code the person reads out, or a written
authorisation brought by an agent, grants one staff account read access to one person for 30 minutes;
without it the person answers as a missing one; every step lands in the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis

from hub import ids, pg
from hub.access.scopes import ALL_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity.crypto import keyed_hash
from hub.identity.tokens import issue_access_token
from hub.messaging import sealed as sms_sealed
from tests.api.conftest import Api, Province, make_api

MISSING_PERSON = 9_000_000_000


@dataclass
class Person:
    person_id: int
    id_number: str
    phone: str
    region_code: str


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def _person(api: Api, province: Province, offset: int) -> Person:
    """A seeded person with a mobile phone in the core; the send counters of that phone start afresh."""
    with pg.connect(province.query_url) as query:
        paying = [r[0] for r in query.execute("select distinct person_id from contribution_month").fetchall()]
    with pg.connect(province.core_url) as core:
        row = core.execute(
            "select aac001, aac002, aac067, aaa027 from core.ac01 where aac058 = '01' and aac001 = any(%s) "
            "and aac067 ~ '^1[3-9][0-9]{9}$' order by aac001 offset %s limit 1",
            (paying, offset),
        ).fetchone()
    assert row is not None, "the seeded province has persons with mobile phones"
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    policy = rt.cfg.codes
    phone_key = keyed_hash(policy.hmac_key, "phone", str(row[2]))[:32]
    r = redis.Redis.from_url(province.redis_url)
    r.delete(f"{policy.redis_prefix}code:cool:{phone_key}", *r.keys(f"{policy.redis_prefix}code:day:*:p:{phone_key}"))
    r.close()
    return Person(int(str(row[0])), str(row[1]), str(row[2]), str(row[3]))


def staff(region_code: str, role: StaffRole = StaffRole.OPERATOR) -> Subject:
    return Subject(
        SubjectKind.STAFF,
        f"hall-{role.value}-{uuid.uuid4().hex[:8]}",
        "portal-web",
        Channel.PORTAL,
        frozenset(str(s) for s in ALL_SCOPES),
        roles=frozenset({role}),
        region_codes=frozenset({region_code}),
    )


def headers(api: Api, who: Subject) -> dict[str, str]:
    now = api.client.app.state.identity.clock().timestamp()  # type: ignore[attr-defined]
    token = issue_access_token(who, api.keys, issuer=api.issuer, audience=api.audience, now=now)
    return {"Authorization": f"Bearer {token}"}


def last_code(province: Province, phone: str) -> str:
    with pg.connect(province.hub_url) as hub:
        found = [m for m in sms_sealed.messages(hub, "purpose = 'staff_consent'") if m["recipient"] == phone]
    assert found, "no consent SMS in the outbox"
    fields: dict[str, Any] = found[-1]["personalisation"]
    return str(fields["code"])


def audit_trail(province: Province, who: Subject) -> list[tuple[str, str, str]]:
    with pg.connect(province.hub_url) as hub:
        rows = hub.execute(
            "select action, result, target_id from hub.audit_log where actor = %s and action like 'consent.%%' "
            "order by at, seq",
            (who.account_id,),
        ).fetchall()
    return [(str(a), str(r), str(t)) for a, r, t in rows]


def reads(api: Api, who: Subject, person_id: int) -> tuple[Any, Any]:
    h = headers(api, who)
    return (
        api.client.get(f"/hall/v1/persons/{person_id}/overview", headers=h),
        api.client.get(f"/hall/v1/persons/{person_id}/contributions", headers=h),
    )


def test_without_a_grant_a_person_answers_as_missing(api: Api, province: Province) -> None:
    person = _person(api, province, 0)
    clerk = staff(person.region_code)
    missing = api.client.get(f"/hall/v1/persons/{MISSING_PERSON}/overview", headers=headers(api, clerk))
    assert missing.status_code == 404
    for answer in reads(api, clerk, person.person_id):
        assert answer.status_code == 404
        assert {**answer.json(), "request_id": ""} == {**missing.json(), "request_id": ""}
        assert answer.headers["content-type"] == missing.headers["content-type"]
    assert audit_trail(province, clerk) == [
        ("consent.use:person.overview", "refused", str(MISSING_PERSON)),
        ("consent.use:person.overview", "refused", str(person.person_id)),
        ("consent.use:person.contributions", "refused", str(person.person_id)),
    ]


def test_sms_consent_lets_that_staff_member_read_and_nobody_else(api: Api, province: Province) -> None:
    person = _person(api, province, 1)
    clerk, colleague = staff(person.region_code), staff(person.region_code, StaffRole.REVIEWER)
    asked = api.client.post(
        "/hall/v1/consents", json={"document_number": person.id_number}, headers=headers(api, clerk)
    )
    assert asked.status_code == 200, asked.text
    sent = asked.json()
    assert sent["phone_masked"] == person.phone[:3] + "****" + person.phone[-4:]
    assert person.phone not in asked.text
    code = last_code(province, person.phone)

    # The ticket is bound to the staff member who asked: a colleague cannot redeem it.
    stolen = api.client.post(
        "/hall/v1/consents/verify", json={"ticket": sent["ticket"], "code": code}, headers=headers(api, colleague)
    )
    assert stolen.status_code == 400
    verified = api.client.post(
        "/hall/v1/consents/verify", json={"ticket": sent["ticket"], "code": code}, headers=headers(api, clerk)
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["person_id"] == person.person_id and verified.json()["basis"] == "sms"
    # 30 minutes from the grant.
    expires = datetime.fromisoformat(verified.json()["expires_at"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    # The code is single use: a second redemption gets nothing.
    again = api.client.post(
        "/hall/v1/consents/verify", json={"ticket": sent["ticket"], "code": code}, headers=headers(api, clerk)
    )
    assert again.status_code == 400

    overview, contributions = reads(api, clerk, person.person_id)
    assert overview.status_code == 200, overview.text
    assert overview.json()["data"]["person_id"] == person.person_id
    assert overview.json()["data"]["id_number"] == person.id_number  # the hall counter shows numbers in full
    assert contributions.status_code == 200, contributions.text
    assert contributions.json()["data"], "the seeded person has contributions"

    for answer in reads(api, colleague, person.person_id):
        assert answer.status_code == 404

    assert audit_trail(province, clerk) == [
        ("consent.request", "ok", str(person.person_id)),
        ("consent.grant", "ok", str(person.person_id)),
        ("consent.grant", "failed", ""),
        ("consent.use:person.overview", "ok", str(person.person_id)),
        ("consent.use:person.contributions", "ok", str(person.person_id)),
    ]
    assert audit_trail(province, colleague) == [
        ("consent.grant", "failed", ""),
        ("consent.use:person.overview", "refused", str(person.person_id)),
        ("consent.use:person.contributions", "refused", str(person.person_id)),
    ]


def test_wrong_code_refused_and_grant_expires(api: Api, province: Province) -> None:
    person = _person(api, province, 2)
    clerk = staff(person.region_code)
    asked = api.client.post(
        "/hall/v1/consents", json={"document_number": person.id_number}, headers=headers(api, clerk)
    )
    assert asked.status_code == 200, asked.text
    code = last_code(province, person.phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = api.client.post(
        "/hall/v1/consents/verify", json={"ticket": asked.json()["ticket"], "code": wrong}, headers=headers(api, clerk)
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "验证码" in refused.json()["title"]
    with pg.connect(province.hub_url) as hub:
        assert hub.execute(
            "select count(*) from hub.consent_grant where staff_account = %s", (clerk.account_id,)
        ).fetchone() == (0,)
    assert reads(api, clerk, person.person_id)[0].status_code == 404

    ok = api.client.post(
        "/hall/v1/consents/verify", json={"ticket": asked.json()["ticket"], "code": code}, headers=headers(api, clerk)
    )
    assert ok.status_code == 200, ok.text
    assert reads(api, clerk, person.person_id)[0].status_code == 200

    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    original = rt.clock
    start = original()
    try:
        rt.clock = lambda: start + timedelta(minutes=29, seconds=50)
        assert reads(api, clerk, person.person_id)[0].status_code == 200
        rt.clock = lambda: start + timedelta(minutes=30, seconds=1)
        for answer in reads(api, clerk, person.person_id):
            assert answer.status_code == 404
    finally:
        rt.clock = original
    results = [(a, r) for a, r, _ in audit_trail(province, clerk)]
    assert results == [
        ("consent.request", "ok"),
        ("consent.grant", "failed"),
        ("consent.use:person.overview", "refused"),
        ("consent.use:person.contributions", "refused"),
        ("consent.grant", "ok"),
        ("consent.use:person.overview", "ok"),
        ("consent.use:person.contributions", "ok"),
        ("consent.use:person.overview", "ok"),
        ("consent.use:person.contributions", "ok"),
        ("consent.use:person.overview", "refused"),
        ("consent.use:person.contributions", "refused"),
    ]


def test_written_authorisation_grants_and_keeps_the_agent_id_hashed(api: Api, province: Province) -> None:
    person = _person(api, province, 3)
    clerk = staff(person.region_code)
    agent_id = ids.make_id_number("110105", date(1980, 5, 17), 123, "2")
    form = {
        "document_number": person.id_number,
        "authorisation_number": "SQWT-2026-000123",
        "agent_document_type": "01",
        "agent_document_number": agent_id,
    }
    bad = api.client.post(
        "/hall/v1/consents/written",
        json={**form, "agent_document_number": agent_id[:-1] + ("0" if agent_id[-1] != "0" else "1")},
        headers=headers(api, clerk),
    )
    assert bad.status_code == 400 and "受托人" in bad.json()["detail"]
    self_agent = api.client.post(
        "/hall/v1/consents/written",
        json={**form, "agent_document_number": person.id_number},
        headers=headers(api, clerk),
    )
    assert self_agent.status_code == 400
    assert reads(api, clerk, person.person_id)[0].status_code == 404

    granted = api.client.post("/hall/v1/consents/written", json=form, headers=headers(api, clerk))
    assert granted.status_code == 200, granted.text
    assert granted.json()["basis"] == "written" and granted.json()["person_id"] == person.person_id
    overview, contributions = reads(api, clerk, person.person_id)
    assert overview.status_code == 200 and contributions.status_code == 200

    with pg.connect(province.hub_url) as hub:
        rows = hub.execute(
            "select row_to_json(g)::text, authorisation_number, agent_document_masked from hub.consent_grant g "
            "where staff_account = %s",
            (clerk.account_id,),
        ).fetchall()
    assert len(rows) == 1, "refused authorisations leave nothing behind"
    stored, number, masked = (str(v) for v in rows[0])
    assert agent_id not in stored and agent_id[:-1] not in stored
    assert number == "SQWT-2026-000123"
    assert masked == agent_id[:3] + "*" * 11 + agent_id[-4:]
    assert [(a, r) for a, r, _ in audit_trail(province, clerk)] == [
        ("consent.written", "refused"),
        ("consent.written", "refused"),
        ("consent.use:person.overview", "refused"),
        ("consent.use:person.contributions", "refused"),
        ("consent.written", "ok"),
        ("consent.use:person.overview", "ok"),
        ("consent.use:person.contributions", "ok"),
    ]


def test_only_staff_of_the_region_may_ask(api: Api, province: Province) -> None:
    person = _person(api, province, 4)
    elsewhere = staff("999999")
    outside = api.client.post(
        "/hall/v1/consents", json={"document_number": person.id_number}, headers=headers(api, elsewhere)
    )
    unknown = api.client.post(
        "/hall/v1/consents",
        json={"document_number": ids.make_id_number("110105", date(1970, 1, 1), 487, "1")},
        headers=headers(api, elsewhere),
    )
    assert outside.status_code == unknown.status_code == 404
    assert {**outside.json(), "request_id": ""} == {**unknown.json(), "request_id": ""}
    with pg.connect(province.hub_url) as hub:
        recent = sms_sealed.messages(hub, "purpose = 'staff_consent' and created_at > now() - interval '1 minute'")
    assert [m for m in recent if m["recipient"] == person.phone] == []
    # Not staff with a data role: an auditor (三员分离) and a person are turned away.
    auditor = staff(person.region_code, StaffRole.AUDITOR)
    person_subject = Subject(
        SubjectKind.PERSON, f"p-{uuid.uuid4().hex[:6]}", "portal-web", Channel.PORTAL,
        frozenset(str(s) for s in ALL_SCOPES), person_id=person.person_id,
    )  # fmt: skip
    for caller in (auditor, person_subject):
        refused = api.client.post(
            "/hall/v1/consents", json={"document_number": person.id_number}, headers=headers(api, caller)
        )
        assert refused.status_code == 403
        assert (
            api.client.get(f"/hall/v1/persons/{person.person_id}/overview", headers=headers(api, caller)).status_code
            == 403
        )
