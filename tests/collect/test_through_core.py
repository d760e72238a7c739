"""Online collection → review in the workbench → approval → the core opens the unit with its staff and
retirees (a real core API process) → the sync carries it into the query store → the activation code goes
to the contact phone the collection gave → the contact creates the unit's first operator account.

Parameters (tests/fixtures/params.py, region 370102): the core's 经办日期 is 2025-03-10 (kit.NOW), so a
staff member insured from 2025-01-01 gets 2025-01 and 2025-02 as 补收 and 2025-03 as a normal month.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import cast

import pytest
import redis

from core import service as core_service
from hub import pg
from hub.collect import service as collect
from hub.declarations import review
from hub.declarations import service as declarations
from hub.declarations.outbox import OutboxWorker
from hub.declarations.states import Status
from hub.errors import Conflict, ValidationFailed
from hub.identity import core_lookup, unit_activation
from hub.identity.errors import InvalidCode
from hub.ids import make_id_number
from tests.collect.conftest import collection
from tests.declarations import kit
from tests.declarations.conftest import World
from tests.identity.idkit import config, sent_messages
from tests.identity.oauthkit import PW


def test_collection_opens_the_unit_and_its_first_operator_activates(world: World, worker: OutboxWorker) -> None:
    payload = collection()
    uscc, phone = payload["unit"]["uscc"], payload["unit"]["contact_phone"]
    decl = collect.submit(world.hub, world.query, payload, actor=collect.applicant(uscc, "web"), key="k-1", now=kit.NOW)
    world.hub.commit()
    assert decl.status is Status.SUBMITTED and decl.unit_id == 0 and decl.region_code == kit.REGION
    # Submitting the same collection again returns the same declaration; another content under the key is refused.
    again = collect.submit(
        world.hub, world.query, payload, actor=collect.applicant(uscc, "web"), key="k-1", now=kit.NOW
    )
    assert again.id == decl.id
    with pytest.raises(Conflict):
        collect.submit(
            world.hub, world.query, collection(1), actor=collect.applicant(uscc, "web"), key="k-1", now=kit.NOW
        )
    world.hub.rollback()

    rev = kit.reviewer()
    # Never clean: a batch approval leaves it for a one-by-one review.
    assessment = review.assess(world.query, decl.type, 0, decl.payload, kit.TODAY)
    assert review.COLLECT_FLAG in assessment.flags
    bulk = declarations.bulk_approve(world.hub, world.query, rev, [decl.id], now=kit.NOW)
    assert bulk.approved == [] and review.COLLECT_FLAG in bulk.skipped[decl.id]
    # A reviewer of another 统筹区 does not see it.
    with pytest.raises(Exception, match="不存在"):
        declarations.claim(world.hub, kit.reviewer("rev-x", regions=(kit.OTHER_REGION,)), decl.id, now=kit.NOW)
    world.hub.rollback()
    declarations.claim(world.hub, rev, decl.id, now=kit.NOW)
    declarations.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    assert worker.step() == 1
    done = declarations.get(world.hub, rev, decl.id)
    assert done.status is Status.APPLIED, done.reason
    assert done.core_result is not None
    unit_id = int(done.core_result["unit_id"])
    staff_ids, retiree_ids = done.core_result["staff"], done.core_result["retirees"]
    assert len(staff_ids) == 2 and len(retiree_ids) == 1

    with pg.connect(world.dbs.core_url) as core:
        unit = core.execute(
            "select uscc, aab004, aaa027, contact_phone, funding from core.ab01 where aab001 = %s", (unit_id,)
        ).fetchone()
        assert unit == (uscc, "历下区档案馆", kit.REGION, phone, "1")
        people = {
            cast(str, name): cast(str, retired)  # aac003, aac084: varchar
            for name, retired in core.execute(
                "select aac003, aac084 from core.ac01 where aac001 = any(%s)", (staff_ids + retiree_ids,)
            )
        }
        assert people == {"陈一": "0", "陈二": "0", "陈三": "1"}
        # Both 险种 for each active staff member, in this unit.
        insured = core.execute(
            "select aac001, count(*) from core.ac02 where aab001 = %s group by aac001 order by aac001", (unit_id,)
        ).fetchall()
        assert insured == [(staff_ids[0], 2), (staff_ids[1], 2)]
        # 陈一 from 2025-01: 202501 and 202502 as 补收, 202503 normal; 陈二 from 2025-03: only 202503.
        periods = {
            pid: sorted(
                {cast(int, r[0]) for r in core.execute("select aae003 from core.ac43 where aac001 = %s", (pid,))}
            )  # aae003: integer
            for pid in staff_ids
        }
        assert periods == {staff_ids[0]: [202501, 202502, 202503], staff_ids[1]: [202503]}

    world.sync_round()
    row = world.query.execute("select uscc, name from unit_overview where unit_id = %s", (unit_id,)).fetchone()
    assert row == (uscc, "历下区档案馆")
    on_roster = world.query.execute(
        "select person_id from unit_roster where unit_id = %s and end_date is null order by person_id", (unit_id,)
    ).fetchall()
    assert [r[0] for r in on_roster] == staff_ids
    retired = world.query.execute("select retired from person_overview where person_id = %s", retiree_ids).fetchone()
    assert retired == (True,)

    # The activation code goes once to the contact phone the collection gave.
    cfg = config()
    with core_lookup.read_only(world.dbs.core_url) as core:
        assert collect.deliver_openings(world.hub, core, cfg, now=kit.NOW) == 1
        world.hub.commit()
        assert collect.deliver_openings(world.hub, core, cfg, now=kit.NOW) == 0
        world.hub.commit()
    sent = [m for m in sent_messages(world.hub, phone) if m["template"] == "staff_notice"]
    assert len(sent) == 1
    text = sent[0]["fields"]["content"]
    assert f"单位编号{unit_id}" in text and done.reference in text
    found = re.search(r"开通码([A-Z0-9]{12})", text)
    assert found is not None
    r = redis.Redis.from_url(world.dbs.redis_url)
    common = {"login": "zhoumin", "display_name": "周敏", "phone": phone, "password": PW, "ip": "127.0.0.9"}
    with core_lookup.read_only(world.dbs.core_url) as core:
        with pytest.raises(InvalidCode):
            unit_activation.complete_counter(
                world.hub, core, r, cfg, unit_code=str(unit_id), code="ABCDEFGHJKMN", now=kit.NOW, **common
            )
        made = unit_activation.complete_counter(
            world.hub, core, r, cfg, unit_code=str(unit_id), code=found.group(1), now=kit.NOW + timedelta(minutes=5),
            **common,
        )  # fmt: skip
    assert made.unit_id == unit_id and unit_activation.has_operators(world.hub, unit_id)
    # The same unit collected again is flagged for the reviewer with its 单位编号.
    flags = review.assess(world.query, decl.type, 0, collection(2) | {"unit": payload["unit"]}, kit.TODAY).flags
    assert f"该统一社会信用代码已登记，单位编号{unit_id}" in flags


def test_invalid_collection_is_refused_whole_with_row_errors(world: World) -> None:
    payload = collection()
    payload["staff"][1]["id_number"] = payload["staff"][1]["id_number"][:-1] + (
        "0" if payload["staff"][1]["id_number"][-1] != "0" else "1"
    )
    payload["retirees"][0]["retire_date"] = "1970-01-01"
    with pytest.raises(ValidationFailed) as caught:
        collect.submit(world.hub, world.query, payload, actor=collect.applicant("x", "web"), key="k-2", now=kit.NOW)
    messages = [e["message"] for e in caught.value.extensions["errors"]]
    assert any(m.startswith("在职人员第2行公民身份号码") and "校验位" in m for m in messages), messages
    assert any(m.startswith("离退休人员第1行") and "离退休日期应晚于参加工作时间" in m for m in messages), messages
    world.hub.rollback()
    assert world.hub.execute("select count(*) from hub.declaration where unit_id = 0").fetchone() == (0,)


def test_core_refuses_a_collection_whole_when_a_person_is_known(world: World, worker: OutboxWorker) -> None:
    payload = collection()
    # Someone already registered in the core (in unit 1), known to the query store after a sync round.
    number = make_id_number("370102", date(1983, 3, 1), 77, "1")
    with pg.connect(world.dbs.core_url) as core:
        known = core_service.register_person(
            core, 1, id_number=number, name="林七", ethnicity="01", work_start=date(2005, 7, 1),
            phone="13900000077", position_level=None,
        )  # fmt: skip
        core.commit()
    world.sync_round()
    payload["staff"][1]["id_number"] = number
    decl = collect.submit(world.hub, world.query, payload, actor=collect.applicant("x", "web"), key="k-3", now=kit.NOW)
    world.hub.commit()
    assert known > 0
    rev = kit.reviewer()
    declarations.claim(world.hub, rev, decl.id, now=kit.NOW)
    declarations.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    assert worker.step() == 1
    failed = declarations.get(world.hub, rev, decl.id)
    assert failed.status is Status.FAILED and "已登记" in (failed.reason or "")
    with pg.connect(world.dbs.core_url) as core:
        assert core.execute(
            "select count(*) from core.ab01 where uscc = %s", (payload["unit"]["uscc"],)
        ).fetchone() == (0,)
        # Nothing of the refused collection is left: the first staff member was not registered either.
        first = payload["staff"][0]["id_number"]
        assert core.execute("select count(*) from core.ac01 where aac002 = %s", (first,)).fetchone() == (0,)
