"""Kiosk and hotline APIs through the gateway: device authentication, card + PIN and keyed-ID + PIN
sessions, the kiosk's 60 s idle session bound to its device, masking, and spoken hotline answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import cast

import pytest
import redis
from fastapi import FastAPI

from hub import pg
from hub.access.subject import Channel
from tests.api.conftest import Api, Province, make_api
from tests.channels import people
from tests.channels.people import PIN, Holder, bearer, device


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


@pytest.fixture
def holder(api: Api, province: Province) -> Holder:
    """A person with one card, in use, a phone on record, a hub account and a query PIN."""
    with pg.connect(province.core_url) as core:
        row = core.execute(
            "select p.aac001 from core.ac01 p join core.ac50 c using (aac001) "
            "where c.status = '1' and p.aac067 is not null and not exists (select 1 from core.ac50 x "
            "where x.aac001 = p.aac001 and x.status <> '1') order by p.aac001 desc limit 1"
        ).fetchone()
    assert row is not None, "the seeded province has cards"
    return people.holder(api, province, cast(int, row[0]))  # aac001: bigint


def test_kiosk_card_session_reads_masked_and_ends(api: Api, holder: Holder, province: Province) -> None:
    kiosk = device(Channel.KIOSK)
    opened = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}, headers=bearer(api, kiosk)
    )
    assert opened.status_code == 200, opened.text
    session = opened.json()["session"]
    assert opened.json()["idle_seconds"] == 60
    me = api.client.get("/kiosk/v1/me", headers=bearer(api, kiosk, **{"X-Kiosk-Session": session}))
    assert me.status_code == 200, me.text
    data = me.json()["data"]
    assert data["person_id"] == holder.person_id
    assert holder.id_number not in me.text  # the kiosk never shows a whole ID number
    assert "*" in (data["id_number"] or "")
    contributions = api.client.get(
        "/kiosk/v1/me/contributions", headers=bearer(api, kiosk, **{"X-Kiosk-Session": session})
    )
    assert contributions.status_code == 200 and contributions.json()["data"]

    # The session idles out after 60 s: its Redis key lives at most 60 s and each use renews it.
    r = redis.Redis.from_url(province.redis_url)
    app = cast(FastAPI, api.client.app)  # make_api's app
    prefix = app.state.identity.cfg.settings.redis_prefix  # this app's keys, not another worker's
    keys = [k for k in r.scan_iter(match=f"{prefix}kiosk:session:*") if 0 < r.ttl(k) <= 60]
    assert keys, "no kiosk session with a 60 s idle timeout in Redis"

    # Another kiosk presenting the token gets what an ended session gets.
    other = api.client.get("/kiosk/v1/me", headers=bearer(api, device(Channel.KIOSK), **{"X-Kiosk-Session": session}))
    assert other.status_code == 401

    # Card removed: the kiosk ends the session; the token is dead.
    ended = api.client.delete("/kiosk/v1/session", headers=bearer(api, kiosk, **{"X-Kiosk-Session": session}))
    assert ended.json() == {"ended": True}
    assert api.client.get("/kiosk/v1/me", headers=bearer(api, kiosk, **{"X-Kiosk-Session": session})).status_code == 401


def test_kiosk_refuses_a_wrong_pin_and_non_devices(api: Api, holder: Holder) -> None:
    kiosk = device(Channel.KIOSK)
    wrong = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": "902468"}, headers=bearer(api, kiosk)
    )
    assert wrong.status_code in (400, 401)
    assert wrong.headers["content-type"] == "application/problem+json"
    unknown_card = api.client.post(
        "/kiosk/v1/session/card", json={"card_number": "999999999", "pin": PIN}, headers=bearer(api, kiosk)
    )
    assert (unknown_card.status_code, unknown_card.json()["title"]) == (wrong.status_code, wrong.json()["title"])
    for caller in (device(Channel.HOTLINE), device(Channel.APP)):
        refused = api.client.post(
            "/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}, headers=bearer(api, caller)
        )
        assert refused.status_code == 403
    assert (
        api.client.post("/kiosk/v1/session/card", json={"card_number": holder.card_no, "pin": PIN}).status_code == 401
    )


def test_hotline_call_answers_in_spoken_chinese(api: Api, holder: Holder) -> None:
    ivr = device(Channel.HOTLINE)
    keyed = holder.id_number.replace("X", "*")
    call = api.client.post("/hotline/v1/calls", json={"keyed_id_number": keyed, "pin": PIN}, headers=bearer(api, ivr))
    assert call.status_code == 200, call.text
    body = call.json()
    assert body["text"] == "身份验证成功。" and "请按一" in body["menu"]
    headers = bearer(api, ivr, **{"X-Hotline-Call": body["call"]})
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
