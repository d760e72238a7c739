"""Kiosk and hotline APIs through the gateway: device authentication, card + PIN and keyed-ID + PIN
sessions, the kiosk's 60 s idle session bound to its device, masking, and spoken hotline answers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis

from hub import pg
from hub.access.subject import Channel, Subject, SubjectKind
from hub.identity import accounts, pins, subjects
from hub.identity.passwords import hash_password
from tests.api.conftest import Api, Province, make_api

PIN = "583920"
KIOSK_SCOPES = {"person:read", "contribution:read", "account:read", "benefit:read", "card:read"}


@dataclass
class Holder:
    person_id: int
    id_number: str
    card_no: str


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


@pytest.fixture
def holder(api: Api, province: Province) -> Holder:
    """A person with a card in use, a hub account and a query PIN."""
    with pg.connect(province.core_url) as core:
        row = core.execute(
            "select p.aac001, p.aac002, c.aaz500 from core.ac01 p join core.ac50 c using (aac001) "
            "where c.status = '1' and p.aac067 is not null and not exists (select 1 from core.ac50 x "
            "where x.aac001 = p.aac001 and x.status <> '1') order by p.aac001 desc limit 1"
        ).fetchone()
    assert row is not None, "the seeded province has cards"
    person_id, id_number, card_no = int(row[0]), str(row[1]), str(row[2])
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with pg.connect(province.hub_url) as hub, pg.connect(province.core_url) as core:
        existing = accounts.find_person(hub, person_id)
        if existing is None:
            account_id = accounts.insert(
                hub,
                kind=SubjectKind.PERSON,
                login=accounts.person_login(rt.cfg.hmac_key, "01", id_number),
                display_name="参保人",
                password_hash=hash_password("Kiosk@2026pw"),
                now=now,
                person_id=person_id,
            )
            hub.commit()
            existing = accounts.get(hub, account_id)
        assert existing is not None
        me = subjects.for_account(
            existing, client_id="portal-web", channel=Channel.PORTAL, scopes=subjects.PERSON_SCOPES,
            grant_id=None, auth_methods=("pwd", "sms"),
        )  # fmt: skip
        pins.set_pin(hub, core, rt.cfg, me, pin=PIN, confirm=PIN, now=now)
    return Holder(person_id, id_number, card_no)


def device(channel: Channel, name: str | None = None) -> Subject:
    return subjects.for_client(name or f"{channel.value}-{uuid.uuid4().hex[:6]}", channel, KIOSK_SCOPES)


def auth(api: Api, who: Subject, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(who)}", **extra}


def test_kiosk_card_session_reads_masked_and_ends(api: Api, holder: Holder, province: Province) -> None:
    kiosk = device(Channel.KIOSK)
    opened = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}, headers=auth(api, kiosk)
    )
    assert opened.status_code == 200, opened.text
    session = opened.json()["session"]
    assert opened.json()["idle_seconds"] == 60
    me = api.client.get("/kiosk/v1/me", headers=auth(api, kiosk, **{"X-Kiosk-Session": session}))
    assert me.status_code == 200, me.text
    data = me.json()["data"]
    assert data["person_id"] == holder.person_id
    assert holder.id_number not in me.text  # the kiosk never shows a whole ID number
    assert "*" in (data["id_number"] or "")
    contributions = api.client.get(
        "/kiosk/v1/me/contributions", headers=auth(api, kiosk, **{"X-Kiosk-Session": session})
    )
    assert contributions.status_code == 200 and contributions.json()["data"]

    # The session idles out after 60 s: its Redis key lives at most 60 s and each use renews it.
    r = redis.Redis.from_url(province.redis_url)
    keys = [k for k in r.scan_iter(match="*kiosk:session:*") if 0 < r.ttl(k) <= 60]
    assert keys, "no kiosk session with a 60 s idle timeout in Redis"

    # Another kiosk presenting the token gets what an ended session gets.
    other = api.client.get("/kiosk/v1/me", headers=auth(api, device(Channel.KIOSK), **{"X-Kiosk-Session": session}))
    assert other.status_code == 401

    # Card removed: the kiosk ends the session; the token is dead.
    ended = api.client.delete("/kiosk/v1/session", headers=auth(api, kiosk, **{"X-Kiosk-Session": session}))
    assert ended.json() == {"ended": True}
    assert api.client.get("/kiosk/v1/me", headers=auth(api, kiosk, **{"X-Kiosk-Session": session})).status_code == 401


def test_kiosk_refuses_a_wrong_pin_and_non_devices(api: Api, holder: Holder) -> None:
    kiosk = device(Channel.KIOSK)
    wrong = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": "902468"}, headers=auth(api, kiosk)
    )
    assert wrong.status_code in (400, 401)
    assert wrong.headers["content-type"] == "application/problem+json"
    unknown_card = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": "999999999", "pin": PIN}, headers=auth(api, kiosk)
    )
    assert (unknown_card.status_code, unknown_card.json()["title"]) == (wrong.status_code, wrong.json()["title"])
    for caller in (device(Channel.HOTLINE), device(Channel.APP)):
        refused = api.client.post(
            "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}, headers=auth(api, caller)
        )
        assert refused.status_code == 403
    assert (
        api.client.post("/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}).status_code == 401
    )


def test_hotline_call_answers_in_spoken_chinese(api: Api, holder: Holder) -> None:
    ivr = device(Channel.HOTLINE)
    keyed = holder.id_number.replace("X", "*")
    call = api.client.post("/hotline/v1/calls", json={"keyed_id_number": keyed, "pin": PIN}, headers=auth(api, ivr))
    assert call.status_code == 200, call.text
    body = call.json()
    assert body["text"] == "身份验证成功。" and "请按一" in body["menu"]
    headers = auth(api, ivr, **{"X-Hotline-Call": body["call"]})
    for item in ("balance", "last-contribution", "last-payment", "card"):
        spoken = api.client.get(f"/hotline/v1/calls/current/{item}", headers=headers)
        assert spoken.status_code == 200, spoken.text
        text = spoken.json()["text"]
        assert not re.search(r"[0-9]", text), text  # everything is said in words, nothing is read as digits
    card = api.client.get("/hotline/v1/calls/current/card", headers=headers).json()["text"]
    assert card.startswith("您的社会保障卡状态为正常")
    bye = api.client.delete("/hotline/v1/calls/current", headers=headers)
    assert bye.json()["text"] == "感谢您的来电，再见。"
    assert api.client.get("/hotline/v1/calls/current/card", headers=headers).status_code == 401
