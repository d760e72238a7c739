"""待遇资格认证 at a kiosk: a registered kiosk's device token, a card + PIN session of a retiree, the
certification recorded with the kiosk's client id and audited; other callers are refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from hub import pg
from hub.access.subject import Channel, Subject, SubjectKind
from hub.identity import accounts, pins, subjects
from hub.identity.passwords import hash_password
from tests.api.conftest import Api, Province, make_api
from tests.person_services import kit

PIN = "583920"
KIOSK_SCOPES = {"person:read", "contribution:read", "account:read", "benefit:read", "card:read"}


@dataclass
class Holder:
    person_id: int
    card_no: str


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def _holder(api: Api, province: Province, retired: bool) -> Holder:
    """A person with one card in use, a hub account and a query PIN: the retiree this test certifies (one no
    other test certifies, ``kit.kiosk_retiree``) or the first such worker (nobody certifies a worker)."""
    with pg.connect(province.core_url) as core:
        row = core.execute(
            "select p.aac001, p.aac002, c.aaz500 from core.ac01 p join core.ac50 c using (aac001) "
            "where c.status = '1' and p.aac084 = %s and p.aac058 = '01' and not exists (select 1 from core.ac50 x "
            "where x.aac001 = p.aac001 and x.status <> '1') and (%s::bigint is null or p.aac001 = %s) "
            "order by p.aac001 limit 1",
            ("1" if retired else "0", *[kit.kiosk_retiree(province).person_id if retired else None] * 2),
        ).fetchone()
    assert row is not None, "the seeded province has card holders"
    person_id, id_number, card_no = cast(int, row[0]), str(row[1]), str(row[2])  # aac001: bigint
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with pg.connect(province.hub_url) as hub, pg.connect(province.core_url) as core:
        existing = accounts.find_person(hub, person_id)
        if existing is None:
            account_id = accounts.insert(
                hub, kind=SubjectKind.PERSON, login=accounts.person_login(rt.cfg.hmac_key, "01", id_number),
                display_name="参保人", password_hash=hash_password("Kiosk@2026pw"), now=now, person_id=person_id,
            )  # fmt: skip
            hub.commit()
            existing = accounts.get(hub, account_id)
        assert existing is not None
        me = subjects.for_account(
            existing, client_id="portal-web", channel=Channel.PORTAL, scopes=subjects.PERSON_SCOPES,
            grant_id=None, auth_methods=("pwd", "sms"),
        )  # fmt: skip
        pins.set_pin(hub, core, rt.cfg, me, pin=PIN, confirm=PIN, now=now)
    return Holder(person_id, card_no)


def _kiosk() -> Subject:
    return subjects.for_client(f"kiosk-{uuid.uuid4().hex[:6]}", Channel.KIOSK, KIOSK_SCOPES)


def _headers(api: Api, who: Subject, session: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {api.token(who)}"}
    if session:
        out["X-Kiosk-Session"] = session
    return out


def _session(api: Api, kiosk: Subject, holder: Holder) -> str:
    opened = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}, headers=_headers(api, kiosk)
    )
    assert opened.status_code == 200, opened.text
    return str(opened.json()["session"])


def test_a_retiree_certifies_at_the_kiosk(api: Api, province: Province) -> None:
    holder = _holder(api, province, retired=True)
    kiosk = _kiosk()
    session = _session(api, kiosk, holder)
    with pg.connect(province.hub_url) as hub:
        before = hub.execute(
            "select count(*) from hub.eligibility_certification where person_id = %s", (holder.person_id,)
        ).fetchone()

    done = api.client.post("/kiosk/v1/me/certification", headers=_headers(api, kiosk, session))
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "certified" and body["state_label"] == "已认证"
    assert body["message"].startswith("认证成功")
    today = api.client.app.state.identity.clock().astimezone(ZoneInfo("Asia/Shanghai")).date()  # type: ignore[attr-defined]
    assert body["certified_on"] == today.isoformat()

    with pg.connect(province.hub_url) as hub:
        rows = hub.execute(
            "select channel, device_client, certified_on from hub.eligibility_certification where person_id = %s "
            "order by id",
            (holder.person_id,),
        ).fetchall()
    assert before is not None and len(rows) == cast(int, before[0]) + 1  # exactly one new record (count(): bigint)
    assert rows[-1] == ("kiosk", kiosk.client_id, today)
    audited = kit.audit_rows(province.hub_url, "eligibility.certify", str(holder.person_id))
    assert any(r["client_id"] == kiosk.client_id and r["channel"] == "kiosk" for r in audited)

    # The status read at the same kiosk shows the new state.
    read = api.client.get("/kiosk/v1/me/certification", headers=_headers(api, kiosk, session))
    assert read.status_code == 200 and read.json()["state"] == "certified"

    # Another kiosk presenting the session, or no session at all, gets what an ended session gets.
    other = api.client.post("/kiosk/v1/me/certification", headers=_headers(api, _kiosk(), session))
    assert other.status_code == 401
    assert api.client.post("/kiosk/v1/me/certification", headers=_headers(api, kiosk)).status_code == 401
    # A person's own token is no kiosk.
    person = kit.person(holder.person_id)
    assert api.client.post("/kiosk/v1/me/certification", headers=_headers(api, person, session)).status_code == 403


def test_a_worker_has_nothing_to_certify(api: Api, province: Province) -> None:
    holder = _holder(api, province, retired=False)
    kiosk = _kiosk()
    session = _session(api, kiosk, holder)
    refused = api.client.post("/kiosk/v1/me/certification", headers=_headers(api, kiosk, session))
    assert refused.status_code == 422 and "退休人员" in refused.json()["detail"]
    with pg.connect(province.hub_url) as hub:
        row = hub.execute(
            "select count(*) from hub.eligibility_certification where person_id = %s", (holder.person_id,)
        ).fetchone()
    assert row == (0,)
