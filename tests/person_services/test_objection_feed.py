"""已更正 from the core's change feed: an accepted 权益记录核查 closes itself when the sync carries a change of
the objected record (through the core's command API), with the change's position and one push notice; a
change of another month, 险种, record or person leaves it open; a second pass (or a repeated one after a
crash) notifies nobody again; staff's manual 已更正 stays as an audited fallback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hub import pg
from hub.config.push import PushSettings
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import CoreClient
from hub.persons import objection_feed, objections
from hub.persons.objections import IllegalAnswer, ObjectionForm
from sync.backfill import backfill
from tests.declarations import kit as world_kit
from tests.declarations.conftest import World, world
from tests.fixtures import core_rows
from tests.person_services import kit

__all__ = ["world"]

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PUSH = PushSettings()


@pytest.fixture
def core_api(world: World) -> Iterator[world_kit.CoreApi]:
    with world_kit.core_api(world.dbs.core_url) as api:
        yield api


def _objection(world: World, person_id: int, form: ObjectionForm) -> int:
    made = objections.submit(world.hub, world.query, kit.person(person_id), form, [], NOW)
    objection_id = int(made["id"])
    objections.answer(world.hub, kit.staff(world_kit.REGION), objection_id, "accepted", "经核实单位申报有误",
                      now=NOW + timedelta(hours=1), push=PUSH, store=world.query)  # fmt: skip
    world.hub.commit()
    return objection_id


def _state(world: World, objection_id: int) -> tuple[Any, ...]:
    row = world.hub.execute(
        "select status, corrected_by, corrected_event, corrected_snapshot from hub.record_objection where id = %s",
        (objection_id,),
    ).fetchone()
    world.hub.commit()
    assert row is not None
    return tuple(row)


def _notices(world: World, objection_id: int) -> int:
    row = world.hub.execute(
        "select count(*) from hub.push_notice where source_key = %s", (f"objection:{objection_id}:corrected",)
    ).fetchone()
    world.hub.commit()
    assert row is not None
    return int(row[0])


def _round(world: World, at: datetime) -> objection_feed.Round:
    done = objection_feed.run_round(world.hub, world.query, PUSH, at)
    world.hub.commit()
    return done


def _last_person_event(world: World, person_id: int) -> tuple[int, str]:
    row = world.query.execute(
        "select id, snapshot from sync_event where subject_type = 'person' and subject_id = %s "
        "order by id desc limit 1",
        (str(person_id),),
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_a_correction_through_the_core_closes_only_its_objection_once(world: World, core_api: Any) -> None:
    # Persons 1 and 2 contribute in unit 1 from 2025-01 (120 and 116). Person 1 also has a 2024-12 month and a
    # 2025 basic account year, so that there are records of the same person the correction does not touch.
    with pg.connect(world.dbs.core_url) as core:
        core_rows.contribution(core, 900, 1, 1, 202412)
        core.execute(
            "insert into core.ic20 (aac001, aae001, account, opening, credited, aae269, aae240, rate) "
            "values (1, 2025, '1', 0, 9600.00, 0, 9600.00, 0.0000)"
        )
        core.commit()
    world.sync_round()

    january = _objection(world, 1, ObjectionForm("contribution", 2025, 1, "120", None, "一月缴费基数与工资不符"))
    other_person = _objection(world, 2, ObjectionForm("contribution", 2025, 1, "120", None, "一月缴费基数有误"))
    december = _objection(world, 1, ObjectionForm("contribution", 2024, 12, "120", None, "十二月缴费基数有误"))
    account = _objection(world, 1, ObjectionForm("account", 2025, None, None, "BASIC", "年度记账金额有误"))
    assert _round(world, NOW + timedelta(hours=2)).corrected == 0  # nothing changed since the acceptances

    # The agency corrects person 1's 2025 wage in the core (年度缴费工资申报 → 调基补差 rows for 2025-01).
    client = CoreClient(core_api.url, DeclarationSettings().request_timeout_seconds)
    reply = client.send(
        {
            "command_id": str(uuid.uuid4()), "type": "annual_wage", "unit_id": 1, "business_date": "2025-01-20",
            "payload": {"year": 2025, "rows": [{"person_id": 1, "monthly_wage": "12000.00"}]}, "reference": "T1",
        }
    )  # fmt: skip
    assert reply.status == "applied", reply.reason
    world.sync_round()
    adjusted = world.query.execute(
        "select insurance, base from contribution_month where person_id = 1 and period = 202501 and kind = '41' "
        "order by insurance"
    ).fetchall()
    assert adjusted == [("116", Decimal("2000.00")), ("120", Decimal("2000.00"))]  # 12,000 − 10,000 each
    position = _last_person_event(world, 1)

    # A crash before the commit repeats the round: the first attempt's effects are rolled back.
    objection_feed.run_round(world.hub, world.query, PUSH, NOW + timedelta(days=1))
    world.hub.rollback()
    assert _state(world, january)[0] == "accepted" and _notices(world, january) == 0

    done = _round(world, NOW + timedelta(days=1))
    assert done.corrected == 1
    assert _state(world, january) == ("corrected", "feed", *position)
    assert _notices(world, january) == 1
    for untouched in (other_person, december, account):  # another person, another month, the account year
        assert _state(world, untouched) == ("accepted", None, None, None)
    audit = world.hub.execute(
        "select actor_kind, actor from hub.audit_log where action = 'objection.corrected' and target_id = %s",
        (str(january),),
    ).fetchall()
    world.hub.commit()
    assert audit == [("system", "objection-feed")]

    # Running again notifies nobody twice, and staff can no longer record it by hand.
    assert _round(world, NOW + timedelta(days=2)) == objection_feed.Round(0, 0, 0)
    assert _notices(world, january) == 1
    with pytest.raises(IllegalAnswer):
        objections.answer(world.hub, kit.staff(world_kit.REGION), january, "corrected", "", now=NOW, push=PUSH)
    world.hub.rollback()

    # A rebuild of the store (one event for everything) leaves the untouched objections open.
    world.sync.close()
    backfill(world.dbs.core_url, world.dbs.query_url)
    assert _round(world, NOW + timedelta(days=3)).corrected == 0
    assert _state(world, other_person)[0] == _state(world, december)[0] == _state(world, account)[0] == "accepted"

    # The account year is corrected in the core (its yearly crediting is not a hub command): closed too.
    with pg.connect(world.dbs.core_url) as core:
        core.execute("update core.ic20 set credited = 9800.00, aae240 = 9800.00 where aac001 = 1 and aae001 = 2025")
        core.commit()
    world.sync_round()
    assert _round(world, NOW + timedelta(days=4)).corrected == 1
    assert _state(world, account)[:2] == ("corrected", "feed") and _notices(world, account) == 1

    # The manual fallback: staff record 已更正 themselves (audited as staff); the feed then leaves it alone.
    objections.answer(world.hub, kit.staff(world_kit.REGION), december, "corrected", "已在核心系统更正",
                      now=NOW + timedelta(days=5), push=PUSH)  # fmt: skip
    world.hub.commit()
    assert _state(world, december)[:2] == ("corrected", "staff") and _notices(world, december) == 1
    assert _state(world, other_person) == ("accepted", None, None, None)


def test_an_objection_accepted_before_fingerprints_gets_one_on_first_sight(world: World) -> None:
    made = objections.submit(
        world.hub, world.query, kit.person(2), ObjectionForm("contribution", 2025, 1, "116", None, "年金缴费有误"),
        [], NOW,
    )  # fmt: skip
    objection_id = int(made["id"])
    # Accepted without the store (as the previous release did): no fingerprint.
    objections.answer(world.hub, kit.staff(world_kit.REGION), objection_id, "accepted", "", now=NOW, push=PUSH)
    world.hub.commit()
    assert world.hub.execute("select record_digest from hub.record_objection where id = %s",
                             (objection_id,)).fetchone() == (None,)  # fmt: skip
    world.hub.commit()
    # A change of the person's phone makes a person event: the pass takes the fingerprint and closes nothing.
    with pg.connect(world.dbs.core_url) as core:
        core.execute("update core.ac01 set aac067 = '13900009999' where aac001 = 2")
        core.commit()
    world.sync_round()
    assert _round(world, NOW + timedelta(hours=1)).corrected == 0
    digest = world.hub.execute("select record_digest from hub.record_objection where id = %s", (objection_id,))
    assert digest.fetchone() != (None,)
    world.hub.commit()
    assert _state(world, objection_id)[0] == "accepted"
    # Then a change of that very record closes it.
    with pg.connect(world.dbs.core_url) as core:
        core.execute("update core.ac43 set aac040 = aac040 + 100 where aac001 = 2 and aae140 = '116'")
        core.commit()
    world.sync_round()
    assert _round(world, NOW + timedelta(hours=2)).corrected == 1
    assert _state(world, objection_id)[:2] == ("corrected", "feed")
