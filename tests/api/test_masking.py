"""No route returns an unmasked ID number or phone to a channel that must mask them."""

from __future__ import annotations

import re

from hub.access.channels import REGISTRY
from hub.access.scopes import ALL_SCOPES, Scope
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from tests.api.actors import cast
from tests.api.conftest import Api, Province
from tests.api.operations import OPS


def _subjects(channel: Channel, person_id: int, region: str) -> list[Subject]:
    scopes = frozenset(s.value for s in ALL_SCOPES)
    kind = SubjectKind.PERSON if channel in (Channel.PORTAL, Channel.APP) else SubjectKind.CLIENT
    return [
        Subject(kind, f"mask-{channel.value}", f"{channel.value}-01", channel, scopes, person_id=person_id),
        Subject(
            SubjectKind.STAFF,
            f"mask-staff-{channel.value}",
            f"{channel.value}-01",
            channel,
            scopes,
            roles=frozenset({StaffRole.REVIEWER}),
            region_codes=frozenset({region}),
        ),
    ]


def test_no_unmasked_id_number_or_phone_leaves_for_a_masking_channel(api: Api, province: Province) -> None:
    c = cast(province)
    ids = {p["id_number"] for p in province.persons.values()}
    phones = {p["phone"] for p in province.persons.values() if p["phone"]}
    assert ids and phones
    for channel, policy in REGISTRY.items():
        bodies: list[str] = []
        for subject in _subjects(channel, c.a, c.region_x):
            for op in OPS:
                if op.target == "audit":
                    continue
                target = c.a if op.target == "person" else c.x
                assert op.rest is not None
                bodies.append(api.get(subject, op.rest.format(id=target), params={"limit": 200}).text)
                if op.graphql:
                    bodies.append(api.gql(subject, op.graphql, {"id": str(target)}).text)
        text = "\n".join(bodies)
        leaked_ids = {i for i in re.findall(r"\d{17}[\dX]", text) if i in ids}
        leaked_phones = {p for p in re.findall(r"1\d{10}", text) if p in phones}
        if policy.masking.id_number:
            assert not leaked_ids, channel
            if Scope.PERSON_READ in policy.scopes:
                assert "***********" in text, channel  # masked numbers were returned, not nothing
        else:
            assert leaked_ids, channel  # the hall counter sees numbers in full: the check can fail
        if policy.masking.phone:
            assert not leaked_phones, channel
