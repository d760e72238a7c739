"""Declarations in the hub DB: idempotent submission, row-level access, transitions with their history and
audit records, claims, bulk and automatic approval."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest

from hub import pg
from hub.access.subject import StaffRole
from hub.crypto import payloads
from hub.declarations import deadlines, service
from hub.declarations.access import NotPermitted
from hub.declarations.states import IllegalTransition, Status
from hub.declarations.types import DeclarationType as T
from hub.errors import Conflict, NotFound, ValidationFailed
from tests.declarations import kit
from tests.declarations.conftest import World

CONTACT = {"contact_name": "刘洋", "contact_phone": "13912345678"}
ENROL = {"person_id": 3, "start_date": "2025-03-01", "monthly_wage": "9000"}


def _count(world: World, sql: str, *args: Any) -> int:
    row = world.hub.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def test_submitting_twice_creates_one(world: World) -> None:
    op = kit.unit_operator(1)
    first = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "key-1", submit=True, now=kit.NOW)
    again = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "key-1", submit=True, now=kit.NOW)
    world.hub.commit()
    assert again.id == first.id
    assert first.status is Status.SUBMITTED
    assert _count(world, "select count(*) from hub.declaration") == 1
    # one save and one submit: the repeat wrote no history
    assert _count(world, "select count(*) from hub.declaration_event") == 2
    with pytest.raises(Conflict):
        service.create(
            world.hub, world.query, op, T.UNIT_CONTACT, {**CONTACT, "contact_name": "王强"}, "key-1", now=kit.NOW
        )
    world.hub.rollback()
    # the same amount written differently is the same content
    enrol = service.create(world.hub, world.query, op, T.PERSON_ENROL, ENROL, "key-2")
    same = service.create(world.hub, world.query, op, T.PERSON_ENROL, {**ENROL, "monthly_wage": "9000.0"}, "key-2")
    assert same.id == enrol.id and same.payload["monthly_wage"] == "9000.00"
    # the same key in another unit is another declaration
    other = service.create(world.hub, world.query, kit.unit_operator(2), T.UNIT_CONTACT, CONTACT, "key-1")
    assert other.id != first.id


def test_concurrent_twins_create_one(world: World) -> None:
    results: list[int] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        with pg.connect(world.dbs.hub_url) as conn, pg.connect(world.dbs.query_url, autocommit=True) as query:
            barrier.wait()
            decl = service.create(conn, query, kit.unit_operator(1), T.PERSON_ENROL, ENROL, "twin", submit=True)
            conn.commit()
            results.append(decl.id)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 4
    assert len(set(results)) == 1
    assert _count(world, "select count(*) from hub.declaration") == 1
    assert _count(world, "select count(*) from hub.declaration_event where action = 'submit'") == 1


def test_invalid_content_is_refused_per_field_and_writes_nothing(world: World) -> None:
    op = kit.unit_operator(1)
    with pytest.raises(ValidationFailed) as info:
        service.create(
            world.hub,
            world.query,
            op,
            T.ANNUAL_WAGE,
            {"year": 2025, "rows": [{"person_id": 1, "monthly_wage": "0"}, {"person_id": 2, "monthly_wage": "12.345"}]},
            "bad",
        )
    messages = [e["message"] for e in info.value.extensions["errors"]]
    assert messages == ["申报明细第1行月缴费工资必须大于0", "申报明细第2行月缴费工资最多保留两位小数"]
    with pytest.raises(ValidationFailed) as info:
        service.create(world.hub, world.query, op, T.UNIT_CONTACT, {"contact_phone": "1391234"}, "bad2")
    assert info.value.extensions["errors"][0]["message"] == "联系电话手机号码应为11位数字"
    with pytest.raises(ValidationFailed) as info:
        service.create(
            world.hub,
            world.query,
            op,
            T.PERSON_REGISTER,
            {"id_number": "110101199003071234", "name": "孙七", "work_start": "2012-07-01", "phone": "13912345678"},
            "bad3",
        )
    assert "校验位" in info.value.extensions["errors"][0]["message"]
    world.hub.rollback()
    assert _count(world, "select count(*) from hub.declaration") == 0


def test_row_level_access(world: World) -> None:
    mine = service.create(world.hub, world.query, kit.unit_operator(1), T.UNIT_CONTACT, CONTACT, "k", submit=True)
    elsewhere = service.create(world.hub, world.query, kit.unit_operator(3), T.UNIT_CONTACT, CONTACT, "k", submit=True)
    world.hub.commit()
    assert elsewhere.region_code == kit.OTHER_REGION
    assert service.get(world.hub, kit.unit_operator(1), mine.id).id == mine.id
    # another unit's operator, staff of another region, the auditor: exactly like a missing record
    for who in (
        kit.unit_operator(2),
        kit.reviewer("rev-x", regions=(kit.OTHER_REGION,)),
        kit.staff("aud", StaffRole.AUDITOR),
        kit.staff("sys", StaffRole.SYSTEM_ADMIN),
    ):
        with pytest.raises(NotFound) as info:
            service.get(world.hub, who, mine.id)
        assert info.value.detail == NotFound().detail
        with pytest.raises(NotFound):
            service.history(world.hub, who, mine.id)
    assert service.get(world.hub, kit.staff("ops", StaffRole.OPERATOR), mine.id).id == mine.id
    assert [d.id for d in service.list_for_unit(world.hub, kit.unit_operator(1))] == [mine.id]
    assert [d.id for d in service.list_for_unit(world.hub, kit.unit_operator(3))] == [elsewhere.id]
    with pytest.raises(NotFound):
        service.withdraw(world.hub, kit.unit_operator(2), mine.id)
    with pytest.raises(NotFound):
        service.claim(world.hub, kit.reviewer("rev-x", regions=(kit.OTHER_REGION,)), mine.id)
    # only a reviewer decides, only a unit operator declares
    with pytest.raises(NotPermitted):
        service.claim(world.hub, kit.staff("ops", StaffRole.OPERATOR), mine.id)
    with pytest.raises(NotPermitted):
        service.create(world.hub, world.query, kit.reviewer(), T.UNIT_CONTACT, CONTACT, "z")


def test_the_full_review_path_is_history_and_audit(world: World) -> None:
    op, rev = kit.unit_operator(1), kit.reviewer()
    decl = service.create(world.hub, world.query, op, T.PERSON_ENROL, ENROL, "e1", now=kit.NOW)
    assert decl.status is Status.DRAFT and decl.reference.startswith("SB20250310")
    decl = service.update_draft(world.hub, op, decl.id, {**ENROL, "monthly_wage": "9500"}, version=decl.version)
    assert decl.payload["monthly_wage"] == "9500.00"
    decl = service.submit(world.hub, world.query, op, decl.id, now=kit.NOW)
    # received Mon 2025-03-10, 5 working days (person_enrol default): 03-11, 12, 13, 14, 17 → Mon 2025-03-17
    assert decl.due_date == date(2025, 3, 17)
    with pytest.raises(Conflict, match="请先认领"):
        service.approve(world.hub, rev, decl.id)
    service.claim(world.hub, rev, decl.id)
    with pytest.raises(Conflict, match="其他审核人员"):
        service.claim(world.hub, kit.reviewer("rev-2"), decl.id)
    with pytest.raises(IllegalTransition, match="不能撤回"):
        service.withdraw(world.hub, op, decl.id)
    decl = service.return_for_correction(world.hub, rev, decl.id, "工资填写有误")
    assert decl.status is Status.RETURNED and decl.reason == "工资填写有误" and decl.claimed_by is None
    decl = service.update_draft(world.hub, op, decl.id, ENROL)
    decl = service.submit(world.hub, world.query, op, decl.id)
    assert decl.reason is None
    service.assign(world.hub, rev, decl.id, "rev-2")
    with pytest.raises(Conflict):
        service.approve(world.hub, rev, decl.id)
    decl = service.approve(world.hub, kit.reviewer("rev-2"), decl.id)
    assert decl.status is Status.APPROVED
    with pytest.raises(IllegalTransition, match="审核通过"):
        service.reject(world.hub, kit.reviewer("rev-2"), decl.id, "重复")
    with pytest.raises(IllegalTransition):
        service.update_draft(world.hub, op, decl.id, ENROL)
    world.hub.commit()
    events = service.history(world.hub, op, decl.id)
    assert [(e.action, e.to_status.value, e.actor_label) for e in events] == [
        ("save", "draft", "单位经办人"),
        ("save", "draft", "单位经办人"),
        ("submit", "submitted", "单位经办人"),
        ("claim", "submitted", "经办机构"),
        ("return", "returned", "经办机构"),
        ("save", "returned", "单位经办人"),
        ("submit", "submitted", "单位经办人"),
        ("assign", "submitted", "经办机构"),
        ("approve", "approved", "经办机构"),
    ]
    assert events[4].reason == "工资填写有误"
    audited = world.hub.execute(
        "select action from hub.audit_log where target_type = 'declaration' and target_id = %s order by seq",
        (str(decl.id),),
    ).fetchall()
    assert [a for (a,) in audited] == [f"declaration.{e.action}" for e in events]
    # exactly one command for the core, carrying the approved content
    cmd = [  # the payload is sealed to the command (hub.crypto.payloads)
        (kind, unit, payloads.opened(world.hub, payloads.COMMAND, command_id, envelope, plain))
        for kind, unit, command_id, envelope, plain in world.hub.execute(
            "select type, unit_id, command_id, payload_enc, payload from hub.declaration_command"
        ).fetchall()
    ]
    assert cmd == [("person_enrol", 1, {"person_id": 3, "start_date": "2025-03-01", "monthly_wage": "9000.00"})]


def test_withdraw_a_draft_and_an_unclaimed_submission(world: World) -> None:
    op = kit.unit_operator(1)
    draft = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "w1")
    assert service.withdraw(world.hub, op, draft.id).status is Status.WITHDRAWN
    sub = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "w2", submit=True)
    assert service.withdraw(world.hub, op, sub.id).status is Status.WITHDRAWN
    with pytest.raises(IllegalTransition, match="已撤回"):
        service.submit(world.hub, world.query, op, sub.id)
    with pytest.raises(ValidationFailed):
        service.reject(world.hub, kit.reviewer(), sub.id, "  ")


def test_bulk_approve_takes_only_clean_ones(world: World) -> None:
    op, rev = kit.unit_operator(1), kit.reviewer()
    clean = service.create(world.hub, world.query, op, T.PERSON_ENROL, ENROL, "b1", submit=True, now=kit.NOW)
    # start date before this month: flagged (补收 of 2 months: 2025-01 and 2025-02)
    back = service.create(
        world.hub,
        world.query,
        op,
        T.PERSON_ENROL,
        {**ENROL, "person_id": 4, "start_date": "2025-01-01"},
        "b2",
        submit=True,
        now=kit.NOW,
    )
    held = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "b3", submit=True, now=kit.NOW)
    service.claim(world.hub, kit.reviewer("rev-2"), held.id)
    draft = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "b4")
    result = service.bulk_approve(
        world.hub, world.query, rev, [clean.id, back.id, held.id, draft.id, 99999], now=kit.NOW
    )
    assert result.approved == [clean.id]
    assert result.skipped == {
        back.id: "参保日期早于本月，将补收2个月",
        held.id: "已由其他审核人员认领",
        draft.id: "当前状态为“草稿”",
        99999: "申报不存在或无权办理",
    }


def test_auto_approve_rule(world: World) -> None:
    op, admin = kit.unit_operator(1), kit.staff("sys", StaffRole.SYSTEM_ADMIN)
    with pytest.raises(NotPermitted):
        service.set_auto_rule(world.hub, kit.reviewer(), T.UNIT_CONTACT, enabled=True, note="低风险")
    service.set_auto_rule(world.hub, admin, T.UNIT_CONTACT, enabled=True, note="联系人变更低风险")
    auto = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "a1", submit=True)
    assert auto.status is Status.APPROVED and auto.decided_by == service.SYSTEM_AUTO
    # a type without a rule waits for a reviewer
    manual = service.create(world.hub, world.query, op, T.PERSON_ENROL, ENROL, "a2", submit=True)
    assert manual.status is Status.SUBMITTED
    service.set_auto_rule(world.hub, admin, T.PERSON_ENROL, enabled=True, note="试行")
    # a flagged declaration (person 1 already insured) is never approved automatically
    flagged = service.create(world.hub, world.query, op, T.PERSON_ENROL, {**ENROL, "person_id": 1}, "a3", submit=True)
    assert flagged.status is Status.SUBMITTED


def test_release_reject_and_deadline_settings(world: World) -> None:
    op, rev = kit.unit_operator(1), kit.reviewer()
    decl = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "r1", submit=True, now=kit.NOW)
    service.claim(world.hub, rev, decl.id)
    with pytest.raises(Conflict, match="本人认领"):
        service.release(world.hub, kit.reviewer("rev-2"), decl.id)
    decl = service.release(world.hub, rev, decl.id)
    assert decl.claimed_by is None
    # released: the unit may withdraw again, and anyone may claim it
    service.claim(world.hub, kit.reviewer("rev-2"), decl.id)
    decl = service.reject(world.hub, kit.reviewer("rev-2"), decl.id, "单位已注销")
    assert (decl.status, decl.reason, decl.finished_at is not None) == (Status.REJECTED, "单位已注销", True)
    with pytest.raises(IllegalTransition, match="不予受理"):
        service.submit(world.hub, world.query, op, decl.id)

    admin = kit.staff("sys", StaffRole.SYSTEM_ADMIN)
    with pytest.raises(NotPermitted):
        deadlines.set_deadline(world.hub, rev, T.UNIT_CONTACT, date(2025, 3, 1), 1, "办事指南")
    deadlines.set_deadline(world.hub, admin, T.UNIT_CONTACT, date(2025, 3, 1), 1, "本中心办事指南（2025版）")
    later = service.create(world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "r2", submit=True, now=kit.NOW)
    # received Mon 2025-03-10, now 1 working day → Tue 03-11 (it was 3: Thu 03-13)
    assert later.due_date == date(2025, 3, 11)
    # received before the new row's date, the old deadline still applies: Fri 2025-02-28 + 3 → Wed 03-05
    earlier = service.create(
        world.hub, world.query, op, T.UNIT_CONTACT, CONTACT, "r3", submit=True, now=kit.NOW - timedelta(days=10)
    )
    assert earlier.due_date == date(2025, 3, 5)
    with pytest.raises(ValidationFailed):
        deadlines.set_deadline(world.hub, admin, T.UNIT_CONTACT, date(2025, 4, 1), 0, "x")
