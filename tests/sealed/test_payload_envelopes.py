"""The sealed payloads themselves: bound to their row, re-sealed by a key rotation, the previous release's
plaintext sealed by the data step, one envelope for a 10,000-row wage declaration, lists that open nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from hub.config.crypto import DEV_KEK
from hub.crypto import columns, payloads, ring
from hub.crypto.rotation import HUB, keys_in_use, pending
from hub.crypto.sm import SealBroken
from hub.declarations import records, service
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from hub.identity import codes
from hub.persons import person_services_repository, requests_repo
from tests.declarations import kit
from tests.declarations.conftest import World
from tests.identity.idkit import config

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
OP = kit.unit_operator(1)


@pytest.fixture(autouse=True)
def _dev_kek() -> Iterator[None]:
    ring.configure(DEV_KEK)
    yield
    ring.reset()


def draft(world: World, payload: dict[str, Any], key: str, type_: T = T.PERSON_CHANGE) -> int:
    decl = service.create(world.hub, world.query, OP, type_, payload, key, now=kit.NOW)
    world.hub.commit()
    return decl.id


def request(world: World, person_id: int, phone: str, key: str) -> int:
    new_id = requests_repo.insert(
        world.hub, person_id=person_id, type_="contact_change", payload={"phone": phone}, key=key, channel="portal",
        actor_kind="person", actor="acc", evidence={}, at=NOW,
    )  # fmt: skip
    world.hub.commit()
    assert new_id is not None
    return new_id


def test_an_envelope_copied_into_another_row_does_not_open(world: World) -> None:
    a = draft(world, {"person_id": 1, "phone": "13800001111"}, "a")
    b = draft(world, {"person_id": 2, "phone": "13800002222"}, "b")
    assert service.get(world.hub, OP, b).payload == {"person_id": 2, "phone": "13800002222"}
    ra, rb = request(world, 1, "13900001111", "ra"), request(world, 2, "13900002222", "rb")
    ticket_a = codes.open_challenge(world.hub, config().codes, purpose="t", binding="1:13700001111", now=NOW)
    ticket_b = codes.open_challenge(world.hub, config().codes, purpose="t", binding="2:13700002222", now=NOW)
    world.hub.commit()
    assert codes.peek(world.hub, ticket=ticket_b, purpose="t", now=NOW).binding == "2:13700002222"  # type: ignore[union-attr]

    h = world.hub
    h.execute("update hub.declaration set payload_enc = (select payload_enc from hub.declaration where id = %s) "
              "where id = %s", (a, b))  # fmt: skip
    h.execute("update hub.person_request set payload_enc = (select payload_enc from hub.person_request where id = %s) "
              "where id = %s", (ra, rb))  # fmt: skip
    h.execute("update hub.verification_code set binding_enc = (select binding_enc from hub.verification_code "
              "where ticket = %s) where ticket = %s", (ticket_a, ticket_b))  # fmt: skip
    h.commit()
    with pytest.raises(SealBroken):
        _ = service.get(h, OP, b).payload
    with pytest.raises(SealBroken):
        requests_repo.fetch(h, rb)
    with pytest.raises(SealBroken):
        codes.peek(h, ticket=ticket_b, purpose="t", now=NOW)
    h.rollback()
    # The rows whose own envelopes are untouched still open.
    assert service.get(h, OP, a).payload["phone"] == "13800001111"
    found = requests_repo.fetch(h, ra)
    assert found is not None and found.payload == {"phone": "13900001111"}


def test_the_command_to_the_core_is_sealed_to_its_own_id(world: World) -> None:
    rev = kit.reviewer()
    ids = []
    for key, phone in (("a", "13800001111"), ("b", "13800002222")):
        decl = service.create(world.hub, world.query, OP, T.PERSON_CHANGE, {"person_id": 1, "phone": phone}, key,
                              submit=True, now=kit.NOW)  # fmt: skip
        service.claim(world.hub, rev, decl.id, now=kit.NOW)
        service.approve(world.hub, rev, decl.id, now=kit.NOW)
        ids.append(decl.id)
    world.hub.commit()
    rows = world.hub.execute(
        "select command_id, payload_enc, payload from hub.declaration_command order by declaration_id"
    ).fetchall()
    assert [r[2] for r in rows] == [None, None]  # no plaintext copy
    (first, env_a, _), (second, _, _) = rows
    assert payloads.opened(world.hub, payloads.COMMAND, first, env_a) == {"person_id": 1, "phone": "13800001111"}
    with pytest.raises(SealBroken):
        payloads.opened(world.hub, payloads.COMMAND, second, env_a)


def test_rotation_reseals_every_payload_under_the_new_key(world: World) -> None:
    a = draft(world, {"person_id": 1, "phone": "13800001111"}, "a")
    r = request(world, 1, "13900001111", "r")
    ticket = codes.open_challenge(world.hub, config().codes, purpose="t", binding="1:13700001111", now=NOW)
    world.hub.commit()
    sealed = (payloads.DECLARATION, payloads.PERSON_REQUEST, payloads.BINDING)
    before = set().union(*(keys_in_use(world.hub, c) for c in sealed))
    assert len(before) == 1
    world.hub.rollback()

    active, resealed, retired = columns.rotate(world.hub, HUB)
    assert active not in before and resealed >= 3 and sorted(retired) == sorted(before)
    for column in sealed:
        assert keys_in_use(world.hub, column) == {active}
    keyring = payloads.for_writing(world.hub)
    assert all(pending(world.hub, keyring, c) == 0 for c in sealed)
    world.hub.rollback()
    assert service.get(world.hub, OP, a).payload == {"person_id": 1, "phone": "13800001111"}
    found = requests_repo.fetch(world.hub, r)
    assert found is not None and found.payload == {"phone": "13900001111"}
    assert codes.peek(world.hub, ticket=ticket, purpose="t", now=NOW).binding == "1:13700001111"  # type: ignore[union-attr]


def test_the_data_step_seals_what_the_previous_release_wrote(world: World) -> None:
    h = world.hub
    wage = {
        "year": 2025,
        "rows": [{"person_id": 1, "monthly_wage": "12000.00"}, {"person_id": 2, "monthly_wage": "3000.00"}],
    }
    # Rows as the previous release wrote them: plaintext payloads, no envelopes.
    decl_id = h.execute(
        "insert into hub.declaration (reference, unit_id, region_code, type, payload, status, idempotency_key, "
        "created_by) values ('SBOLD', 1, %s, 'annual_wage', %s, 'approved', 'old', 'op-1') returning id",
        (kit.REGION, Jsonb(wage)),
    ).fetchone()[0]  # type: ignore[index]
    command_id = uuid.uuid4()
    h.execute(
        "insert into hub.declaration_command (command_id, declaration_id, type, unit_id, business_date, payload) "
        "values (%s, %s, 'annual_wage', 1, '2025-03-10', %s)",
        (command_id, decl_id, Jsonb(wage)),
    )
    request_id = h.execute(
        "insert into hub.person_request (reference, person_id, type, payload, status, idempotency_key, channel, "
        "actor_kind, actor, command_id, created_at, updated_at) values ('GROLD', 1, 'contact_change', %s, "
        "'submitted', 'old', 'portal', 'person', 'acc', %s, now(), now()) returning id",
        (json.dumps({"phone": "13900001111"}), uuid.uuid4()),
    ).fetchone()[0]  # type: ignore[index]
    h.execute(
        "insert into hub.verification_code (ticket, purpose, binding, method, created_at, expires_at) "
        "values ('old-ticket', 't', '1:13700001111', 'sms', %s, %s)",
        (NOW, datetime(2026, 3, 2, 2, 0, tzinfo=UTC)),
    )
    transfer_id = h.execute(
        "insert into hub.person_transfer (reference, person_id, region_code, direction, other_region_code, "
        "other_region_name, other_scheme, other_agency, reason, contact_phone, status, created_at, updated_at) "
        "values ('ZYOLD', 1, %s, 'in', '440100', '广东省广州市', '110', '广州市社会保险基金管理局', '工作调动', "
        "'13912340011', 'applied', now(), now()) returning id",
        (kit.REGION,),
    ).fetchone()[0]  # type: ignore[index]
    notice_id = h.execute(
        "insert into hub.push_notice (source_key, person_id, kind, urgency, title, sms_template, personalisation, "
        "sms_phone, sms_due_at, created_at) values ('old', 1, 'payment', 'normal', '待遇发放', 'benefit_paid', "
        "'{}'::jsonb, '13912340022', now(), now()) returning id"
    ).fetchone()[0]  # type: ignore[index]
    h.commit()
    # The previous release's rows read the same before the data step ran.
    assert records.fetch(h, decl_id).payload == wage  # type: ignore[union-attr]
    h.rollback()

    assert columns.seal_leftovers(h, HUB) >= 6  # (the SMS tables' own step may seal more)
    leftovers = h.execute(
        "select (select count(*) from hub.declaration where payload is not null), "
        "(select count(*) from hub.declaration_command where payload is not null), "
        "(select count(*) from hub.person_request where payload is not null), "
        "(select count(*) from hub.verification_code where binding is not null), "
        "(select count(*) from hub.person_transfer where contact_phone is not null), "
        "(select count(*) from hub.push_notice where sms_phone is not null)"
    ).fetchone()
    assert leftovers == (0, 0, 0, 0, 0, 0)
    summary = h.execute("select summary from hub.declaration where id = %s", (decl_id,)).fetchone()
    assert summary == ({"year": 2025, "rows": 2},)  # the year and the number of rows, no person
    assert records.fetch(h, decl_id).payload == wage  # type: ignore[union-attr]
    env = h.execute("select payload_enc from hub.declaration_command").fetchone()[0]  # type: ignore[index]
    assert payloads.opened(h, payloads.COMMAND, command_id, env) == wage
    found = requests_repo.fetch(h, request_id)
    assert found is not None and found.payload == {"phone": "13900001111"}
    assert codes.peek(h, ticket="old-ticket", purpose="t", now=NOW).binding == "1:13700001111"  # type: ignore[union-attr]
    assert person_services_repository.transfer(h, transfer_id)["contact_phone"] == "13912340011"  # type: ignore[index]
    env = h.execute("select sms_phone_enc from hub.push_notice where id = %s", (notice_id,)).fetchone()[0]  # type: ignore[index]
    assert payloads.open_value(h, payloads.PUSH_SMS_PHONE, notice_id, env) == "13912340022"
    h.rollback()
    assert columns.seal_leftovers(h, HUB) == 0  # nothing left: running it again does nothing


def test_a_10000_row_wage_declaration_is_one_envelope_and_lists_open_nothing(world: World) -> None:
    rows = [{"person_id": n, "monthly_wage": "8000"} for n in range(1, 10_001)]
    big = draft(world, {"year": 2025, "rows": rows}, "big", T.ANNUAL_WAGE)
    small = draft(world, {"person_id": 1, "phone": "13800001111"}, "small")
    found = world.hub.execute(
        "select count(*), count(payload_enc), count(payload), max(summary::text) from hub.declaration where id = %s",
        (big,),
    ).fetchone()
    assert found == (1, 1, 0, json.dumps({"rows": 10000, "year": 2025}))
    assert len(service.get(world.hub, OP, big).payload["rows"]) == 10_000
    # A list page reads no payload: a broken envelope shows only when that declaration's content is read.
    world.hub.execute("update hub.declaration set payload_enc = substring(payload_enc from 1 for 40) where id = %s",
                      (small,))  # fmt: skip
    listed = service.list_for_unit(world.hub, OP)
    assert [(d.id, d.status) for d in listed] == [(small, Status.DRAFT), (big, Status.DRAFT)]
    with pytest.raises(SealBroken):
        _ = listed[0].payload
    world.hub.rollback()
