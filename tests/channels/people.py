"""Callers of the device channels built on the seeded province: a person with a hub account, a query PIN and a
card in use, kiosk and hotline devices with their tokens, and the sessions they open."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from hub import pg
from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.identity import accounts, pins, subjects
from hub.identity.passwords import hash_password
from tests.api.conftest import Api, Province

PIN = "583920"
DEVICE_SCOPES = frozenset(str(s) for s in PERSON_SCOPES)  # statement:read included: kiosks print 权益记录单


@dataclass(frozen=True)
class Holder:
    person_id: int
    id_number: str
    card_no: str
    phone: str | None


def holder(api: Api, province: Province, person_id: int) -> Holder:
    """``person_id`` with a hub account and the query PIN ``PIN``; the person must hold a card in use."""
    with pg.connect(province.core_url) as core:
        row = core.execute(
            "select p.aac002, c.aaz500, p.aac067 from core.ac01 p join core.ac50 c using (aac001) "
            "where p.aac001 = %s and c.status = '1' order by c.aaz500 limit 1",
            (person_id,),
        ).fetchone()
    assert row is not None, f"person {person_id} has no card in use"
    id_number, card_no, phone = str(row[0]), str(row[1]), None if row[2] is None else str(row[2])
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
    return Holder(person_id, id_number, card_no, phone)


def device(channel: Channel, name: str | None = None) -> Subject:
    return subjects.for_client(name or f"{channel.value}-{uuid.uuid4().hex[:6]}", channel, set(DEVICE_SCOPES))


def bearer(api: Api, who: Subject, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(who)}", **extra}


def kiosk_session(api: Api, kiosk: Subject, h: Holder) -> str:
    opened = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": h.card_no, "pin": PIN}, headers=bearer(api, kiosk)
    )
    assert opened.status_code == 200, opened.text
    return str(opened.json()["session"])


def hotline_call(api: Api, line: Subject, h: Holder) -> str:
    call = api.client.post(
        "/hotline/v1/calls",
        json={"keyed_id_number": h.id_number.replace("X", "*"), "pin": PIN},
        headers=bearer(api, line),
    )
    assert call.status_code == 200, call.text
    return str(call.json()["call"])
