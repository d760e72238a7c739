"""The authorization matrix of the gateway (tests/api/test_authorization_matrix.py) extended to the device and
counter channels: every kiosk, hotline and hall operation × every caller × the other party's records.

Callers: person A's and person B's kiosk sessions (on kiosk 1), A's session presented by kiosk 2, a kiosk
without a session, the hotline system with A's call and another line presenting it, hall staff of A's 统筹区
with and without A's consent, staff of another 统筹区 (holding B's consent), A's app token, a unit operator,
and no credentials — every credential-holding caller also presents A's kiosk session and call tokens, which
must open nothing for it. The oracle is written from the rules' prose: a device channel reads only the person
of a session that device opened; hall staff read only a person who consented to them and lives in their
统筹区; every other caller is turned away. No unexpected success, and an answer about someone else's record
is identical (status, body but the request id, length) to the answer about a record that does not exist.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from hub import ids, pg
from hub.access.scopes import ALL_SCOPES, PERSON_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from tests.api.actors import MISSING_PERSON, Cast, cast
from tests.api.conftest import Api, Province, make_api
from tests.channels.people import PIN, Holder, device, holder, hotline_call, kiosk_session

BOGUS_SESSION = "x" * 43  # the shape of a session token, never issued


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


@dataclass(frozen=True)
class Op:
    name: str
    channel: str  # kiosk | hotline | hall
    method: str
    path: str  # {id} for the hall's person
    kind: str  # read | open | consent | cert (待遇资格认证: the session's person answers only if retired)
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Actor:
    name: str
    subject: Subject | None
    extra: dict[str, str]

    def headers(self, api: Api) -> dict[str, str]:
        """A fresh token on every request: access tokens live 5 minutes, the matrix takes a while."""
        return {**(_bearer(api, self.subject) if self.subject else {}), **self.extra}


def _ops(a: Holder, year: int) -> list[Op]:
    kiosk_reads = ["/me", "/me/contributions", "/me/accounts", "/me/benefit", "/me/payments", "/me/card"]
    return [
        *(Op(f"kiosk{p}", "kiosk", "GET", f"/kiosk/v1{p}", "read") for p in kiosk_reads),
        Op("kiosk.print.certificate", "kiosk", "GET", "/kiosk/v1/me/print/certificate", "read"),
        Op("kiosk.print.statement", "kiosk", "GET", f"/kiosk/v1/me/print/statement?year={year}", "read"),
        Op("kiosk.certification", "kiosk", "GET", "/kiosk/v1/me/certification", "cert"),
        Op("kiosk.certify", "kiosk", "POST", "/kiosk/v1/me/certification", "cert"),
        Op("kiosk.open", "kiosk", "POST", "/kiosk/v1/session/card", "open", {"card_number": a.card_no, "pin": PIN}),
        *(
            Op(f"hotline.{item}", "hotline", "GET", f"/hotline/v1/calls/current/{item}", "read")
            for item in ("balance", "last-contribution", "last-payment", "card")
        ),
        Op(
            "hotline.open",
            "hotline",
            "POST",
            "/hotline/v1/calls",
            "open",
            {"keyed_id_number": a.id_number.replace("X", "*"), "pin": PIN},
        ),
        Op("hall.overview", "hall", "GET", "/hall/v1/persons/{id}/overview", "read"),
        Op("hall.contributions", "hall", "GET", "/hall/v1/persons/{id}/contributions", "read"),
        Op("hall.written", "hall", "POST", "/hall/v1/consents/written", "consent"),
    ]


def _staff(name: str, region: str) -> Subject:
    return Subject(
        SubjectKind.STAFF, f"{name}-{region}-{id(name)}", "portal-web", Channel.PORTAL,
        frozenset(str(s) for s in ALL_SCOPES), roles=frozenset({StaffRole.OPERATOR}), region_codes=frozenset({region}),
    )  # fmt: skip


def _written(person: Holder, agent_serial: int) -> dict[str, str]:
    return {
        "document_number": person.id_number,
        "authorisation_number": f"SQWT-MATRIX-{agent_serial}",
        "agent_document_number": ids.make_id_number("110105", date(1979, 8, 14), agent_serial, "1"),
    }


def _grant(api: Api, staff: Subject, person: Holder, serial: int) -> None:
    r = api.client.post("/hall/v1/consents/written", json=_written(person, serial), headers=_bearer(api, staff))
    assert r.status_code == 200, r.text


def _bearer(api: Api, who: Subject) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(who)}"}


def _region_of(province: Province, person_id: int) -> str:
    return str(province.persons[person_id]["region_code"])


def _actors(api: Api, province: Province, c: Cast, a: Holder, b: Holder) -> list[Actor]:
    kiosk1, kiosk2 = device(Channel.KIOSK), device(Channel.KIOSK)
    line1, line2 = device(Channel.HOTLINE), device(Channel.HOTLINE)
    sa, sb = kiosk_session(api, kiosk1, a), kiosk_session(api, kiosk1, b)
    ca = hotline_call(api, line1, a)
    region_a, region_b = _region_of(province, a.person_id), _region_of(province, b.person_id)
    assert region_a != region_b, "the cast puts A and B in different 统筹区"
    hall_x_granted, hall_x, hall_y = (
        _staff("hall-x1", region_a),
        _staff("hall-x2", region_a),
        _staff("hall-y", region_b),
    )
    _grant(api, hall_x_granted, a, 301)
    _grant(api, hall_y, b, 302)
    app_a = Subject(
        SubjectKind.PERSON, f"app-{a.person_id}", "app-android", Channel.APP,
        frozenset(str(s) for s in PERSON_SCOPES), person_id=a.person_id,
    )  # fmt: skip
    operator = c.actors["operator_x"]
    stolen = {"X-Kiosk-Session": sa, "X-Hotline-Call": ca}
    return [
        Actor("kiosk_a", kiosk1, {"X-Kiosk-Session": sa}),
        Actor("kiosk_b", kiosk1, {"X-Kiosk-Session": sb}),
        Actor("kiosk_a_on_other_device", kiosk2, {"X-Kiosk-Session": sa}),
        Actor("kiosk_without_session", kiosk2, {"X-Kiosk-Session": BOGUS_SESSION}),
        Actor("hotline_a", line1, {"X-Hotline-Call": ca}),
        Actor("hotline_a_on_other_line", line2, {"X-Hotline-Call": ca}),
        Actor("hotline_without_call", line2, {"X-Hotline-Call": BOGUS_SESSION}),
        Actor("hall_x_granted_a", hall_x_granted, stolen),
        Actor("hall_x", hall_x, stolen),
        Actor("hall_y_granted_b", hall_y, stolen),
        Actor("app_a", app_a, stolen),
        Actor("operator_x", operator, stolen),
        Actor("none", None, stolen),
    ]


KIOSKS = {"kiosk_a", "kiosk_b", "kiosk_a_on_other_device", "kiosk_without_session"}
LINES = {"hotline_a", "hotline_a_on_other_line", "hotline_without_call"}
STAFF = {"hall_x_granted_a", "hall_x", "hall_y_granted_b"}


def expected(actor: str, op: Op, target: str, b_has_year: bool, retired: frozenset[str] = frozenset()) -> str:
    """ok | missing | ended (the session answer) | refused (403) | unauthenticated (401) | not_retiree (422, a
    certification for a person who draws no pension); from the prose above. ``retired``: which of a, b are."""
    if actor == "none":
        return "unauthenticated"
    if op.channel == "kiosk":
        if actor not in KIOSKS:
            return "refused"
        if op.kind == "open":
            return "ok"  # any registered kiosk may open a session with the card and its PIN
        if op.kind == "cert" and actor in {"kiosk_a", "kiosk_b"}:
            return "ok" if actor.removeprefix("kiosk_") in retired else "not_retiree"
        if actor == "kiosk_a":
            return "ok"
        if actor == "kiosk_b":
            return "ok" if op.name != "kiosk.print.statement" or b_has_year else "missing"
        return "ended"
    if op.channel == "hotline":
        if actor not in LINES:
            return "refused"
        if op.kind == "open":
            return "ok"
        return "ok" if actor == "hotline_a" else "ended"
    if actor not in STAFF:
        return "refused"
    if op.kind == "consent":
        return "missing"  # staff outside A's 统筹区 cannot even ask A for consent (run only for hall_y)
    if (actor, target) in {("hall_x_granted_a", "a"), ("hall_y_granted_b", "b")}:
        return "ok"
    return "missing"


def _strip(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _strip(v) for k, v in body.items() if k != "request_id"}
    return body


def test_channel_matrix(api: Api, province: Province, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="httpx2")  # no personal number travels in a URL here; quiet anyway
    c = cast(province)
    a, b = holder(api, province, c.a), holder(api, province, c.b)
    with pg.connect(province.query_url) as query:
        years = {
            # person_id: bigint, array_agg(distinct year): integer[]
            typing.cast(int, pid): set(typing.cast("list[int]", ys))
            for pid, ys in query.execute(
                "select person_id, array_agg(distinct year) from rights_statement where person_id = any(%s) group by 1",
                ([a.person_id, b.person_id],),
            ).fetchall()
        }
    year = max(years[a.person_id])
    with pg.connect(province.query_url) as query:
        retired = frozenset(
            name
            for name, who in (("a", a), ("b", b))
            if query.execute(
                "select coalesce(retired, false) from person_overview where person_id = %s", (who.person_id,)
            ).fetchone()
            == (True,)
        )
    b_has_year = year in years.get(b.person_id, set())
    actors = _actors(api, province, c, a, b)
    # A person that does not exist, and a document number no core person holds (the consent reference).
    nobody = Holder(MISSING_PERSON, ids.make_id_number("110105", date(1970, 1, 1), 487, "1"), "", None)
    targets = {"a": a, "b": b, "missing": nobody}
    checked = 0
    # Operation by operation, so each live session is used every few seconds (a kiosk idles out in 60 s).
    for op in _ops(a, year):
        for actor in actors:
            if op.kind == "consent" and actor.name in {"hall_x", "hall_x_granted_a"}:
                continue  # would grant itself A's consent: tests/channels/test_hall_consent.py covers it
            names = ["missing", "a", "b"] if op.kind == "read" and op.channel == "hall" else ["missing", "a"]
            if op.channel != "hall":
                names = ["a"]
            reference: dict[str, Any] = {}
            for target in names:
                who = targets[target]
                path = op.path.format(id=who.person_id)
                body = _written(who, 400 + len(target)) if op.kind == "consent" else op.body
                r = api.client.request(op.method, path, json=body, headers=actor.headers(api))
                outcome = expected(actor.name, op, target, b_has_year, retired)
                label = (actor.name, op.name, target, r.status_code, r.text[:300])
                checked += 1
                if outcome == "ok":
                    assert r.status_code == 200, label
                    _check_own(op, actor.name, r, a, b)
                    continue
                assert r.headers["content-type"] == "application/problem+json", label
                statuses = {"missing": 404, "ended": 401, "refused": 403, "unauthenticated": 401, "not_retiree": 422}
                status = statuses[outcome]
                assert r.status_code == status, label
                shape = (r.headers.get("content-length"), _strip(r.json()))
                # Within one caller and operation, every refusal of a kind reads the same, whoever it concerns.
                assert reference.setdefault(outcome, shape) == shape, label
            if op.channel == "hall" and expected(actor.name, op, "a", b_has_year) == "missing":
                assert "missing" in reference
    assert checked > 250

    # A's session presented by another kiosk reads exactly as a session that never existed.
    other, none = (next(x for x in actors if x.name == n) for n in ("kiosk_a_on_other_device", "kiosk_without_session"))
    for op in _ops(a, year)[:8]:
        r1 = api.client.get(op.path, headers=other.headers(api))
        r2 = api.client.get(op.path, headers=none.headers(api))
        assert (r1.status_code, _strip(r1.json())) == (r2.status_code, _strip(r2.json())), op.name


def _check_own(op: Op, actor: str, r: Any, a: Holder, b: Holder) -> None:
    """An allowed answer is about the caller's own person, and names nobody else."""
    if op.kind != "read":
        return
    own, other = (b, a) if actor in {"kiosk_b", "hall_y_granted_b"} else (a, b)
    assert other.id_number not in r.text, (actor, op.name)
    if op.name in {"kiosk/me", "hall.overview"}:
        assert r.json()["data"]["person_id"] == own.person_id, (actor, op.name)
