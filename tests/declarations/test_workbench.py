"""The agency workbench: queue filters, working days left, overdue alerts, the changes against the
query store, and statistics, all worked by hand (March 2025 has no calendar exceptions: weekdays only)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.declarations import service, workbench
from hub.declarations.access import NotPermitted
from hub.declarations.review import Change
from hub.declarations.types import DeclarationType as T
from hub.errors import NotFound
from tests.declarations import kit
from tests.declarations.conftest import World

MON_0310 = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
FRI_0307 = datetime(2025, 3, 7, 2, 0, tzinfo=UTC)
WED_0312 = datetime(2025, 3, 12, 2, 0, tzinfo=UTC)
FRI_0314 = datetime(2025, 3, 14, 2, 0, tzinfo=UTC)


def _setup(world: World) -> tuple[int, int, int, int]:
    op = kit.unit_operator(1)
    d1 = service.create(
        world.hub,
        world.query,
        op,
        T.UNIT_CONTACT,
        {"contact_name": "刘洋", "contact_phone": "13912345678"},
        "d1",
        submit=True,
        now=MON_0310,
    )
    d2 = service.create(
        world.hub,
        world.query,
        op,
        T.PERSON_ENROL,
        {"person_id": 3, "start_date": "2025-03-01", "monthly_wage": "9000"},
        "d2",
        submit=True,
        now=MON_0310,
    )
    d3 = service.create(
        world.hub,
        world.query,
        op,
        T.ANNUAL_WAGE,
        {"year": 2025, "rows": [{"person_id": 1, "monthly_wage": "16000"}, {"person_id": 3, "monthly_wage": "9000"}]},
        "d3",
        submit=True,
        now=FRI_0307,
    )
    d4 = service.create(
        world.hub,
        world.query,
        kit.unit_operator(3),
        T.UNIT_CHANGE,
        {"address": "新址"},
        "d4",
        submit=True,
        now=MON_0310,
    )
    world.hub.commit()
    # deadlines (default working days per type):
    #   d1 unit_contact, 3 days from Mon 03-10: 11, 12, 13 → Thu 03-13
    #   d2 person_enrol, 5 days from Mon 03-10: 11, 12, 13, 14, 17 → Mon 03-17
    #   d3 annual_wage, 10 days from Fri 03-07: 10, 11, 12, 13, 14, 17, 18, 19, 20, 21 → Fri 03-21
    assert (d1.due_date, d2.due_date, d3.due_date) == (date(2025, 3, 13), date(2025, 3, 17), date(2025, 3, 21))
    return d1.id, d2.id, d3.id, d4.id


def test_queue_filters_and_overdue(world: World) -> None:
    d1, d2, d3, d4 = _setup(world)
    rev = kit.reviewer()
    today = date(2025, 3, 14)
    items = workbench.queue(world.hub, rev, today)
    # d1 due Thu 03-13 is one working day overdue; d2 due Mon 03-17 has 1 left (15, 16 are a weekend);
    # d3 due Fri 03-21 has 5 left (17–21)
    assert [(i.declaration.id, i.overdue, i.working_days_left) for i in items] == [
        (d1, True, -1),
        (d2, False, 1),
        (d3, False, 5),
    ]
    assert [i.declaration.id for i in workbench.queue(world.hub, rev, today, type_=T.ANNUAL_WAGE)] == [d3]
    assert [i.declaration.id for i in workbench.queue(world.hub, rev, today, due_by=date(2025, 3, 17))] == [d1, d2]
    assert workbench.queue(world.hub, rev, today, region=kit.OTHER_REGION) == []
    service.claim(world.hub, rev, d2)
    assert [i.declaration.id for i in workbench.queue(world.hub, rev, today, holder="mine")] == [d2]
    assert [i.declaration.id for i in workbench.queue(world.hub, rev, today, holder="unclaimed")] == [d1, d3]
    assert [i.declaration.id for i in workbench.overdue(world.hub, rev, today)] == [d1]
    other = kit.reviewer("rev-9", regions=(kit.OTHER_REGION,))
    assert [i.declaration.id for i in workbench.queue(world.hub, other, today)] == [d4]
    with pytest.raises(NotPermitted):
        workbench.queue(world.hub, kit.unit_operator(1), today)


def test_detail_shows_the_changes_against_the_query_store(world: World) -> None:
    d1, d2, d3, _ = _setup(world)
    rev, today = kit.reviewer(), date(2025, 3, 14)
    contact = workbench.detail(world.hub, world.query, rev, d1, today).assessment
    # the unit's contact on record (tests/fixtures/core_rows.unit): 王芳, 13800000001
    assert contact.changes == [
        Change("单位", "联系人", "王芳", "刘洋"),
        Change("单位", "联系电话", "13800000001", "13912345678"),
    ]
    assert contact.clean
    enrol = workbench.detail(world.hub, world.query, rev, d2, today).assessment
    assert enrol.changes == [
        Change("个人编号3 王五", "缴费状态", "未参保", "正常缴费"),
        Change("个人编号3 王五", "本次参保日期", "（无）", "2025-03-01"),
        Change("个人编号3 王五", "月缴费工资", "（无）", "9000.00"),
    ]
    assert enrol.flags == []
    wages = workbench.detail(world.hub, world.query, rev, d3, today).assessment
    # person 1's current wage is the seeded 10,000; 16,000 / 10,000 − 1 = 60 % > 50 % → flagged
    assert wages.changes == [
        Change("个人编号1 张三", "2025年度月缴费工资", "10000.00", "16000.00"),
        Change("个人编号3 王五", "2025年度月缴费工资", "（无）", "9000.00"),
    ]
    assert wages.flags == ["个人编号1 张三申报工资与上次相差超过50%", "个人编号3 王五不在本单位在册参保名单中"]
    with pytest.raises(NotFound):
        workbench.detail(world.hub, world.query, kit.reviewer("rev-9", regions=(kit.OTHER_REGION,)), d1, today)


def test_statistics(world: World) -> None:
    d1, d2, _, _ = _setup(world)
    rev = kit.reviewer()
    service.claim(world.hub, rev, d2, now=WED_0312)
    service.return_for_correction(world.hub, rev, d2, "缺少材料", now=WED_0312)  # on time (due 03-17)
    service.claim(world.hub, rev, d1, now=FRI_0314)
    service.approve(world.hub, rev, d1, now=FRI_0314)  # late: due Thu 03-13
    world.hub.commit()
    stats = workbench.statistics(world.hub, rev, date(2025, 3, 1), date(2025, 3, 31), date(2025, 3, 24))
    t = stats.total
    # received d1, d2, d3 (d4 is another region); finished d1 (late) and d2; d3 open past Fri 03-21
    assert (t.received, t.finished, t.approved, t.returned, t.rejected) == (3, 2, 1, 1, 0)
    assert (t.finished_late, t.open_overdue, t.overdue) == (1, 1, 2)
    assert {k.value: (c.received, c.finished, c.overdue) for k, c in stats.by_type.items()} == {
        "unit_contact": (1, 1, 1),
        "person_enrol": (1, 1, 0),
        "annual_wage": (1, 0, 1),
    }
    r = stats.by_reviewer["rev-1"]
    assert (r.finished, r.approved, r.returned, r.finished_late) == (2, 1, 1, 1)
    assert set(stats.by_reviewer) == {"rev-1"}
    # a window before everything: nothing received or finished
    empty = workbench.statistics(world.hub, rev, date(2025, 2, 1), date(2025, 2, 28), date(2025, 3, 24))
    assert (empty.total.received, empty.total.finished) == (0, 0)
