"""Contract tests: schemathesis over the OpenAPI operations of ``/kiosk/v1``, ``/hotline/v1`` and ``/hall/v1``.

Every operation is called as the client it is meant for — a kiosk device with a live card + PIN session of a
seeded person, the hotline system with a live call, hall staff of the person's 统筹区 holding a written
consent — with fuzzed parameters and bodies: no 5xx, every answer documented and conforming to its schema,
every error problem+json. Session-opening operations run on devices of their own, so the lockouts fuzzed PINs
cause never touch the sessions the reads use. ``HUB_FUZZ_EXAMPLES`` scales the examples (CI keeps them few).
"""

from __future__ import annotations

import logging
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from hub import ids, pg
from hub.access.scopes import ALL_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.persons.face_check import FaceResult
from tests.api.actors import cast
from tests.api.conftest import Api, Province, make_api
from tests.channels.people import bearer, device, holder, hotline_call, kiosk_session

# The parser fuzz runs HUB_FUZZ_EXAMPLES (300 by default) per parser; an HTTP operation costs far more.
EXAMPLES = max(3, int(os.environ.get("HUB_FUZZ_EXAMPLES", "300")) // 25)
# The operations of channels/kiosk.py, kiosk_cert.py, kiosk_phone.py, channels/hotline, hall.py and hall_phone.py.
COVERED = {
    ("post", "/kiosk/v1/session/card"),
    ("post", "/kiosk/v1/session/id"),
    ("post", "/kiosk/v1/session/id/verify"),
    ("delete", "/kiosk/v1/session"),
    ("get", "/kiosk/v1/me"),
    ("get", "/kiosk/v1/me/contributions"),
    ("get", "/kiosk/v1/me/accounts"),
    ("get", "/kiosk/v1/me/benefit"),
    ("get", "/kiosk/v1/me/payments"),
    ("get", "/kiosk/v1/me/card"),
    ("get", "/kiosk/v1/me/print/certificate"),
    ("get", "/kiosk/v1/me/print/statement"),
    ("post", "/hotline/v1/calls"),
    ("get", "/hotline/v1/calls/current/{item}"),
    ("delete", "/hotline/v1/calls/current"),
    ("post", "/hall/v1/consents"),
    ("post", "/hall/v1/consents/verify"),
    ("post", "/hall/v1/consents/written"),
    ("get", "/hall/v1/persons/{person_id}/overview"),
    ("get", "/hall/v1/persons/{person_id}/contributions"),
    ("get", "/kiosk/v1/me/certification"),
    ("post", "/kiosk/v1/me/certification"),
    ("post", "/kiosk/v1/me/phone/code"),
    ("post", "/kiosk/v1/me/phone"),
    ("post", "/kiosk/v1/phone-recovery/id-card"),
    ("post", "/kiosk/v1/phone-recovery/id-card/verify"),
    ("post", "/hall/v1/phone-recovery"),
    ("post", "/hall/v1/phone-recovery/verify"),
}


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


class SampleParityFaceCheck:
    """The kiosk's face check for the fuzz: a sample whose first byte is even passes, so both answers occur."""

    def check(self, document_type: str, document_number: str, sample: bytes) -> FaceResult:
        return FaceResult(passed=sample[0] % 2 == 0, provider="contract-test")


@dataclass
class Callers:
    """Per operation: the bearer token and the headers that carry a live session."""

    person_id: int
    retiree_id: int  # the person of the session that certifies (待遇资格认证)
    # Fresh tokens (they live 5 minutes), a new kiosk session (60 s idle) and a new call of the person.
    refresh: Callable[[], tuple[dict[str, str], tuple[str, str], str]]
    kiosk: str = ""
    kiosk_login: str = ""
    line: str = ""
    line_login: str = ""
    staff: str = ""
    kiosk_session: dict[str, str] = field(default_factory=dict)
    retiree_session: dict[str, str] = field(default_factory=dict)
    call: dict[str, str] = field(default_factory=dict)

    def renew(self) -> None:
        tokens, (session, retiree), call = self.refresh()
        self.kiosk, self.kiosk_login = tokens["kiosk"], tokens["kiosk_login"]
        self.line, self.line_login, self.staff = tokens["line"], tokens["line_login"], tokens["staff"]
        self.kiosk_session, self.call = {"X-Kiosk-Session": session}, {"X-Hotline-Call": call}
        self.retiree_session = {"X-Kiosk-Session": retiree}

    def headers(self, method: str, path: str) -> dict[str, str]:
        if path.startswith("/kiosk/v1/session"):
            return {"Authorization": f"Bearer {self.kiosk_login}"}  # opening and closing: fuzzed session header
        if path.startswith("/kiosk/v1/me/certification"):
            return {"Authorization": f"Bearer {self.kiosk}", **self.retiree_session}  # only retirees certify
        if path.startswith("/kiosk/v1/"):
            return {"Authorization": f"Bearer {self.kiosk}", **self.kiosk_session}
        if path == "/hotline/v1/calls" or method == "DELETE":
            return {"Authorization": f"Bearer {self.line_login}"}
        if path.startswith("/hotline/v1/"):
            return {"Authorization": f"Bearer {self.line}", **self.call}
        return {"Authorization": f"Bearer {self.staff}"}


def _callers(api: Api, province: Province) -> Callers:
    c = cast(province)
    who = holder(api, province, c.a)
    retiree = holder(api, province, _retiree(province))
    kiosk, kiosk_login = device(Channel.KIOSK), device(Channel.KIOSK)
    line, line_login = device(Channel.HOTLINE), device(Channel.HOTLINE)
    clerk = Subject(
        SubjectKind.STAFF, f"hall-contract-{c.a}", "portal-web", Channel.PORTAL, frozenset(str(s) for s in ALL_SCOPES),
        roles=frozenset({StaffRole.OPERATOR}), region_codes=frozenset({c.region_x}),
    )  # fmt: skip
    written = api.client.post(
        "/hall/v1/consents/written",
        json={
            "document_number": who.id_number,
            "authorisation_number": "SQWT-CONTRACT-1",
            "agent_document_number": ids.make_id_number("110105", date(1981, 3, 9), 211, "1"),
        },
        headers=bearer(api, clerk),
    )
    assert written.status_code == 200, written.text
    subjects = {"kiosk": kiosk, "kiosk_login": kiosk_login, "line": line, "line_login": line_login, "staff": clerk}
    return Callers(
        person_id=c.a,
        retiree_id=retiree.person_id,
        refresh=lambda: (
            {k: api.token(v) for k, v in subjects.items()},
            (kiosk_session(api, kiosk, who), kiosk_session(api, kiosk, retiree)),
            hotline_call(api, line, who),
        ),
    )


def _retiree(province: Province) -> int:
    """A retiree with a card in use (the next to last); the test removes the certifications it made."""
    with pg.connect(province.core_url) as core:
        rows = core.execute(
            "select p.aac001 from core.ac01 p join core.ac50 c using (aac001) where c.status = '1' "
            "and p.aac084 = '1' and p.aac058 = '01' order by p.aac001 desc limit 2"
        ).fetchall()
    assert len(rows) == 2, "the seeded province has retirees with cards"
    return typing.cast(int, rows[1][0])  # aac001: bigint


def _operations(api: Api) -> list[Any]:
    spec = api.client.get("/openapi.json").json()
    spec["paths"] = {
        p: {m: op for m, op in v.items() if (m, p) in COVERED}
        for p, v in spec["paths"].items()
        if any((m, p) in COVERED for m in v)
    }
    schema = schemathesis.openapi.from_dict(spec)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    return operations


def test_channel_operations_never_fail_or_violate_their_schema(
    api: Api, province: Province, caplog: pytest.LogCaptureFixture
) -> None:
    # Fuzzed card and ID numbers in request lines are inputs, not personal data (whole-run log scan).
    caplog.set_level(logging.WARNING, logger="httpx2")
    callers = _callers(api, province)
    api.client.app.state.face_check = SampleParityFaceCheck()  # type: ignore[attr-defined]
    operations = _operations(api)
    assert {(op.method.lower(), op.path) for op in operations} == COVERED
    reached: dict[str, set[int]] = {}
    with pg.connect(province.hub_url) as hub:
        row = hub.execute("select coalesce(max(id), 0) from hub.eligibility_certification").fetchone()
    assert row is not None
    try:
        for operation in operations:
            callers.renew()
            _fuzz(api, operation, callers, reached.setdefault(f"{operation.method.upper()} {operation.path}", set()))
    finally:
        # The province is shared: other tests count the certifications of its retirees.
        with pg.connect(province.hub_url) as hub:
            hub.execute(
                "delete from hub.eligibility_certification where id > %s and person_id = %s",
                (row[0], callers.retiree_id),
            )
            hub.commit()
    # The live sessions did reach the handlers: every read answered 200 at least once.
    for name, statuses in reached.items():
        if name.startswith("GET ") and "/print/statement" not in name:
            assert 200 in statuses, (name, statuses)


def _fuzz(api: Api, operation: Any, callers: Callers, statuses: set[int]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        cases = [case]
        if "person_id" in (case.path_parameters or {}):
            # Also the person the staff member holds a consent for, so the handler answers with data.
            cases.append(operation.Case(**{**_case_fields(case), "path_parameters": {"person_id": callers.person_id}}))
        for one in cases:
            response = _send(api, one, callers.headers(operation.method.upper(), operation.path))
            statuses.add(response.status_code)
            assert response.status_code < 500, (one.path, response.status_code, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", response.text
                assert response.json()["status"] == response.status_code
            one.validate_response(
                response,
                excluded_checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.positive_data_acceptance],
            )

    check()


def _case_fields(case: Any) -> dict[str, Any]:
    return {
        "method": case.method,
        "path_parameters": case.path_parameters,
        "headers": case.headers,
        "cookies": case.cookies,
        "query": case.query,
        "body": case.body,
        "media_type": case.media_type,
    }


def _send(api: Api, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(headers=headers)
    kwargs.pop("base_url", None)
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    url = kwargs.pop("url")
    path = url.split("://", 1)[-1]
    path = path[path.index("/") :] if "://" in url else url
    return api.client.request(**kwargs, url=path)
