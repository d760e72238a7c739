"""Kiosk print payloads: a 个人参保证明 and a 个人权益记录单 printed in a kiosk person session.

The PDF comes from ``hub.certificates`` (signed, verification code and QR link inside), with names and numbers
masked as the kiosk channel masks them (hub/access/channels.py: a kiosk masks everything, names too); the
certificate verifies at ``/verify``; each print is audited with the kiosk device; within one session printing
again hands out the same certificate, a new session issues a new one, another device gets nothing.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import typing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from pypdf import PdfReader

from hub import ids, pg
from hub.access.subject import Channel
from tests.api.actors import cast
from tests.api.conftest import Api, Province, make_api
from tests.channels.people import Holder, bearer, device, holder, kiosk_session

SESSION = "X-Kiosk-Session"


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _certificates(province: Province, person_id: int, since: datetime) -> list[str]:
    with pg.connect(province.hub_url) as hub:
        rows = hub.execute(
            "select id from hub.certificate where subject = %s and issued_at >= date_trunc('second', %s::timestamptz) "
            "order by id",
            (f"person:{person_id}", since),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _prints(province: Province, client_id: str) -> list[tuple[str, str, str, str]]:
    with pg.connect(province.hub_url) as hub:
        rows = hub.execute(
            "select action, channel, target_id, result from hub.audit_log where client_id = %s "
            "and action in ('kiosk.print', 'certificate.person', 'certificate.statement') order by at, seq",
            (client_id,),
        ).fetchall()
    return [(str(a), str(c), str(t), str(r)) for a, c, t, r in rows]


def _check_masked(pdf: bytes, who: Holder, name: str) -> str:
    text = _text(pdf)
    assert who.id_number not in text and who.id_number[:-4] not in text
    # 公民身份号码 as DOMAIN.md §6.2 masks it: first 3 and last 4 kept, 18 − 7 = 11 stars.
    assert who.id_number[:3] + "*" * 11 + who.id_number[-4:] in text
    # The kiosk masks names too: '张*' for two characters, first + '*' + last for three or more.
    assert ids.mask_name(name) in text
    assert name not in text
    return text


def test_certificate_print_is_masked_audited_verifiable_and_once_per_session(
    api: Api, province: Province, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx2")  # the /verify/{code} request line carries the code
    a = cast(province).a
    who = holder(api, province, a)
    name = str(province.persons[a]["name"])
    assert len(name) >= 2
    kiosk = device(Channel.KIOSK)
    start = datetime.now(UTC)
    session = kiosk_session(api, kiosk, who)
    h = bearer(api, kiosk, **{SESSION: session})
    r = redis.Redis.from_url(province.redis_url)
    # This app's keys only: tests on the other worker keep kiosk sessions in the same Redis.
    app = typing.cast(FastAPI, api.client.app)  # make_api's app
    kept_match = f"{app.state.identity.cfg.settings.redis_prefix}kiosk:kept:*"
    kept_before = set(r.scan_iter(match=kept_match))

    first = api.client.get("/kiosk/v1/me/print/certificate", headers=h)
    assert first.status_code == 200, first.text
    payload: dict[str, Any] = first.json()
    assert payload["title"] == "个人参保证明" and payload["media_type"] == "application/pdf"
    pdf = base64.b64decode(payload["pdf_base64"])
    assert pdf.startswith(b"%PDF-")
    text = _check_masked(pdf, who, name)
    assert payload["verify_url"] in text  # the address the QR code carries is printed under it
    assert payload["verify_url"].endswith(payload["verify_code"])
    assert payload["certificate_id"] in text

    # Printing again in the same session: the same certificate, byte for byte, and no second one issued.
    again = api.client.get("/kiosk/v1/me/print/certificate", headers=h)
    assert again.status_code == 200, again.text
    assert again.json() == payload
    assert _certificates(province, a, start) == [payload["certificate_id"]]
    kept = set(r.scan_iter(match=kept_match)) - kept_before
    assert len(kept) == 1 and 0 < r.ttl(next(iter(kept))) <= 15 * 60  # at most the session's absolute limit

    # Another kiosk presenting the session token: the answer of an ended session, nothing issued.
    stolen = api.client.get(
        "/kiosk/v1/me/print/certificate", headers=bearer(api, device(Channel.KIOSK), **{SESSION: session})
    )
    assert stolen.status_code == 401 and stolen.headers["content-type"] == "application/problem+json"
    assert _certificates(province, a, start) == [payload["certificate_id"]]

    # The public verification page knows it, and shows what it states masked.
    verified = api.client.get(f"/verify/{payload['verify_code']}")
    assert verified.status_code == 200, verified.text
    assert payload["certificate_id"] in verified.text and "验证通过" in verified.text
    assert who.id_number not in verified.text
    assert who.id_number[:3] + "*" * 11 + who.id_number[-4:] in verified.text

    # A new session (the card inserted again) prints a new certificate.
    ended = api.client.delete("/kiosk/v1/session", headers=h)
    assert ended.json() == {"ended": True}
    assert not any(r.exists(k) for k in kept), "the printed payloads leave with the session"
    h2 = bearer(api, kiosk, **{SESSION: kiosk_session(api, kiosk, who)})
    fresh = api.client.get("/kiosk/v1/me/print/certificate", headers=h2)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["certificate_id"] != payload["certificate_id"]
    assert sorted(_certificates(province, a, start)) == sorted(
        [payload["certificate_id"], fresh.json()["certificate_id"]]
    )

    assert _prints(province, kiosk.client_id) == [
        ("certificate.person", "kiosk", str(a), "ok"),
        ("kiosk.print", "kiosk", payload["certificate_id"], "ok"),
        ("kiosk.print", "kiosk", payload["certificate_id"], "reprint"),
        ("certificate.person", "kiosk", str(a), "ok"),
        ("kiosk.print", "kiosk", fresh.json()["certificate_id"], "ok"),
    ]


def test_statement_print_per_year_and_a_year_without_records(api: Api, province: Province) -> None:
    a = cast(province).a
    with pg.connect(province.query_url) as query:
        row = query.execute("select max(year) from rights_statement where person_id = %s", (a,)).fetchone()
    assert row is not None and row[0] is not None, "the seeded person has a rights statement"
    year = typing.cast(int, row[0])  # max(year): integer
    who = holder(api, province, a)
    kiosk = device(Channel.KIOSK)
    start = datetime.now(UTC)
    h = bearer(api, kiosk, **{SESSION: kiosk_session(api, kiosk, who)})

    first = api.client.get("/kiosk/v1/me/print/statement", params={"year": year}, headers=h)
    assert first.status_code == 200, first.text
    assert first.json()["title"] == "个人权益记录单"
    text = _check_masked(base64.b64decode(first.json()["pdf_base64"]), who, str(province.persons[a]["name"]))
    assert f"{year}年" in text
    again = api.client.get("/kiosk/v1/me/print/statement", params={"year": year}, headers=h)
    assert again.json()["certificate_id"] == first.json()["certificate_id"]

    # 1990 is inside the accepted range and holds no record of anyone in the seeded province.
    empty = api.client.get("/kiosk/v1/me/print/statement", params={"year": 1990}, headers=h)
    assert empty.status_code == 404 and empty.headers["content-type"] == "application/problem+json"
    assert "1990" in empty.json()["detail"]
    assert _certificates(province, a, start) == [first.json()["certificate_id"]]
    assert _prints(province, kiosk.client_id) == [
        ("certificate.statement", "kiosk", str(a), "ok"),
        ("kiosk.print", "kiosk", first.json()["certificate_id"], "ok"),
        ("kiosk.print", "kiosk", first.json()["certificate_id"], "reprint"),
        ("certificate.statement", "kiosk", str(a), "not_found"),
    ]


def test_two_presses_at_once_issue_one_certificate(api: Api, province: Province) -> None:
    a = cast(province).a
    who = holder(api, province, a)
    kiosk = device(Channel.KIOSK)
    start = datetime.now(UTC)
    h = bearer(api, kiosk, **{SESSION: kiosk_session(api, kiosk, who)})
    barrier = threading.Barrier(3)

    def press() -> Any:
        barrier.wait(timeout=60)
        return api.client.get("/kiosk/v1/me/print/certificate", headers=h)

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: press(), range(3)))
    assert [x.status_code for x in answers] == [200, 200, 200], [x.text[:200] for x in answers]
    issued = {x.json()["certificate_id"] for x in answers}
    assert len(issued) == 1
    assert _certificates(province, a, start) == sorted(issued)
    results = sorted(r for action, _, _, r in _prints(province, kiosk.client_id) if action == "kiosk.print")
    assert results == ["ok", "reprint", "reprint"]
