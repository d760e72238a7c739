"""The callers of the authorization matrix, built from the seeded province."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hub.access.scopes import ALL_SCOPES, PERSON_SCOPES, Scope
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from tests.api.conftest import Province

MISSING_PERSON = 999_999_999_999
MISSING_UNIT = 999_999_999


@dataclass(frozen=True)
class Cast:
    """Person A (unit X), person B (unit Y), units X and Y (different 统筹区), and every caller."""

    a: int
    b: int
    x: int
    y: int
    region_x: str
    actors: dict[str, Subject]


def app_person(pid: int, channel: Channel = Channel.APP, **kw: Any) -> Subject:
    """A person logged in through the 掌上12333 app client (a fresh account id each call)."""
    return Subject(
        SubjectKind.PERSON,
        f"p{pid}-{uuid.uuid4().hex[:8]}",
        "app-12333",
        channel,
        frozenset(s.value for s in PERSON_SCOPES),
        person_id=pid,
        **kw,
    )


def _scopes(*s: Scope) -> frozenset[str]:
    return frozenset(x.value for x in s)


def cast(p: Province) -> Cast:
    ux, uy = p.units[0], p.units[1]
    a, b = ux["persons"][0], uy["persons"][0]
    tag = uuid.uuid4().hex[:8]
    person_scopes = _scopes(*PERSON_SCOPES)

    def person(pid: int, channel: Channel = Channel.PORTAL) -> Subject:
        return Subject(
            SubjectKind.PERSON, f"p{pid}-{tag}", f"{channel.value}-web", channel, person_scopes, person_id=pid
        )

    def operator(uid: int) -> Subject:
        return Subject(
            SubjectKind.UNIT_OPERATOR,
            f"op{uid}-{tag}",
            "portal-web",
            Channel.PORTAL,
            _scopes(Scope.PERSON_READ, Scope.CONTRIBUTION_READ, Scope.UNIT_READ),
            unit_id=uid,
        )

    def staff(role: StaffRole) -> Subject:
        return Subject(
            SubjectKind.STAFF,
            f"{role.value}-{tag}",
            "portal-web",
            Channel.PORTAL,
            _scopes(*ALL_SCOPES),
            roles=frozenset({role}),
            region_codes=frozenset({ux["region_code"]}),
        )

    def client(channel: Channel, pid: int) -> Subject:
        return Subject(
            SubjectKind.CLIENT, f"{channel.value}-{tag}", f"{channel.value}-01", channel, person_scopes, person_id=pid
        )

    actors = {
        "person_a": person(a),
        "person_b": person(b),
        "operator_x": operator(ux["unit_id"]),
        "operator_y": operator(uy["unit_id"]),
        "reviewer": staff(StaffRole.REVIEWER),
        "auditor": staff(StaffRole.AUDITOR),
        "kiosk": client(Channel.KIOSK, a),
        "hotline": client(Channel.HOTLINE, a),
        "app": person(b, Channel.APP),
    }
    return Cast(a, b, ux["unit_id"], uy["unit_id"], ux["region_code"], actors)
