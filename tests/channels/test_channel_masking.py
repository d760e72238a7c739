"""Masking per channel: the same person read through the app, a kiosk, the hotline and a hall counter.

The channel registry (hub/access/channels.py) says a phone app masks ID number, phone and card number but
shows the person's own name; a kiosk stands in a public hall and masks everything, names too; the hotline reads
aloud and speaks no number at all; a hall counter, where staff hold the documents, shows numbers in full.
The expected values are written from DOMAIN.md §6.2 (``110***********1234``, ``138****1234``, ``张*`` or
``欧*明``, card number to its last 4), not taken from the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest

from hub import ids, pg
from hub.access.channels import policy
from hub.access.scopes import ALL_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from tests.api.actors import cast
from tests.api.conftest import Api, Province, make_api
from tests.channels.people import bearer, device, holder, hotline_call, kiosk_session
from tests.mobile_api.conftest import app_person


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def test_registry_kiosk_masks_more_than_a_phone() -> None:
    def masked(channel: Channel) -> set[str]:
        m = policy(channel).masking
        return {f for f in ("id_number", "phone", "name", "bank_card") if getattr(m, f)}

    assert masked(Channel.APP) < masked(Channel.KIOSK)  # strictly more
    assert masked(Channel.KIOSK) == masked(Channel.HOTLINE) == {"id_number", "phone", "name", "bank_card"}
    assert masked(Channel.HALL) == set()


def test_one_person_through_app_kiosk_hotline_and_hall(api: Api, province: Province) -> None:
    c = cast(province)
    who = holder(api, province, c.a)
    with pg.connect(province.core_url) as core:
        row = core.execute("select aac003, aac067 from core.ac01 where aac001 = %s", (c.a,)).fetchone()
    assert row is not None
    name, phone = str(row[0]), None if row[1] is None else str(row[1])
    assert len(name) >= 2 and len(who.id_number) == 18 and len(who.card_no) >= 9
    id_masked = who.id_number[:3] + "*" * 11 + who.id_number[-4:]  # 18 − 3 − 4 = 11 stars
    name_masked = name[0] + "*" if len(name) == 2 else name[0] + "*" + name[-1]
    card_masked = "*" * (len(who.card_no) - 4) + who.card_no[-4:]

    # 掌上12333: own name in full, numbers masked.
    app = app_person(c.a)
    app_me = api.get(app, "/app/v1/me").json()["data"]
    app_card = api.get(app, "/app/v1/me/card").json()["data"]
    assert (app_me["name"], app_me["id_number"]) == (name, id_masked)
    assert app_card["card_no"] == card_masked

    # Kiosk: the name masked as well.
    kiosk = device(Channel.KIOSK)
    h = bearer(api, kiosk, **{"X-Kiosk-Session": kiosk_session(api, kiosk, who)})
    kiosk_me_r = api.client.get("/kiosk/v1/me", headers=h)
    kiosk_me = kiosk_me_r.json()["data"]
    kiosk_card = api.client.get("/kiosk/v1/me/card", headers=h).json()["data"]
    assert (kiosk_me["name"], kiosk_me["id_number"]) == (name_masked, id_masked)
    assert kiosk_card["card_no"] == card_masked
    assert name not in kiosk_me_r.text and who.id_number not in kiosk_me_r.text

    if phone is not None and len(phone) == 11:
        phone_masked = phone[:3] + "****" + phone[-4:]
        assert app_me["phone"] == phone_masked and kiosk_me["phone"] == phone_masked

    # The kiosk shows strictly less than the phone: every value the kiosk shows in full the app shows in full.
    shown_in_full = {
        "app": {k for k in ("name", "id_number") if app_me[k] in (name, who.id_number)},
        "kiosk": {k for k in ("name", "id_number") if kiosk_me[k] in (name, who.id_number)},
    }
    assert shown_in_full == {"app": {"name"}, "kiosk": set()}

    # Hotline: said aloud, no digit, no name, no number.
    line = device(Channel.HOTLINE)
    hh = bearer(api, line, **{"X-Hotline-Call": hotline_call(api, line, who)})
    for item in ("card", "balance"):
        text = api.client.get(f"/hotline/v1/calls/current/{item}", headers=hh).json()["text"]
        assert not re.search(r"[0-9*]", text) and name not in text, text

    # Hall counter under the person's written consent: everything in full.
    clerk = Subject(
        SubjectKind.STAFF, f"hall-mask-{c.a}", "portal-web", Channel.PORTAL, frozenset(str(s) for s in ALL_SCOPES),
        roles=frozenset({StaffRole.OPERATOR}), region_codes=frozenset({c.region_x}),
    )  # fmt: skip
    granted = api.client.post(
        "/hall/v1/consents/written",
        json={
            "document_number": who.id_number,
            "authorisation_number": "SQWT-MASK-1",
            "agent_document_number": ids.make_id_number("110105", date(1985, 2, 2), 77, "1"),
        },
        headers=bearer(api, clerk),
    )
    assert granted.status_code == 200, granted.text
    hall_me = api.client.get(f"/hall/v1/persons/{c.a}/overview", headers=bearer(api, clerk)).json()["data"]
    assert (hall_me["name"], hall_me["id_number"]) == (name, who.id_number)
    if phone is not None:
        assert hall_me["phone"] == phone
    assert ids.mask_id_number(who.id_number) == id_masked  # the helper agrees with the hand-written mask
