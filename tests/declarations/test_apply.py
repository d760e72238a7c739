"""Each declaration type through the whole write path: review, the outbox worker, the core's command API
(a real HTTP server process), the core's rules, the change feed and sync, and the query store.

Amounts are worked by hand from tests/fixtures/params.py: 120 unit 16 % / person 8 %, 116 unit 8 % /
person 4 %; unit 1 is 财政全额供款, so its 116 unit share is 虚账. Bounds 60 %–300 % of the year-before
全口径 wage: periods of 2024 use 7,000 (4,200–21,000), periods of 2025 use 7,300 (4,380–21,900).
The 经办日期 is 2025-03-10, so 2025-03 is the current month.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from psycopg.rows import dict_row

from hub.crypto import columns as sealed
from hub.declarations import service
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.declarations.records import Declaration
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from hub.ids import make_id_number
from hub.messaging import sealed as sealed_sms
from tests.declarations import kit
from tests.declarations.conftest import World

D = Decimal


@pytest.fixture
def worker(world: World) -> Iterator[OutboxWorker]:
    with kit.core_api(world.dbs.core_url) as api:
        w = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, DeclarationSettings(core_api_url=api.url))
        yield w
        w.close()


def through(world: World, worker: OutboxWorker, type_: T, payload: dict[str, Any], key: str) -> Declaration:
    op, rev = kit.unit_operator(1), kit.reviewer()
    decl = service.create(world.hub, world.query, op, type_, payload, key, submit=True, now=kit.NOW)
    service.claim(world.hub, rev, decl.id, now=kit.NOW)
    service.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    assert worker.step() == 1
    world.sync_round()
    return service.get(world.hub, op, decl.id)


def q(world: World, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return world.query.execute(sql, args).fetchall()


def net(world: World, person_id: int, period: int, insurance: str = "120") -> tuple[Any, ...]:
    """Net (base, unit, person) of a month over all its detail rows, as the unit's pages sum them."""
    rows = q(
        world,
        "select sum(base), sum(unit_amount), sum(personal_amount) from contribution_month "
        "where person_id = %s and period = %s and insurance = %s",
        person_id,
        period,
        insurance,
    )
    return rows[0]


def test_every_type_reaches_the_query_store(world: World, worker: OutboxWorker) -> None:
    # 人员基本信息登记: a new person gets the next 个人编号 (persons 1–4 exist) in the unit's 统筹区
    number = make_id_number("370102", date(1990, 3, 7), 21, "1")
    reg = through(
        world,
        worker,
        T.PERSON_REGISTER,
        {"id_number": number, "name": "孙七", "work_start": "2012-07-01", "phone": "13700001111"},
        "reg",
    )
    assert reg.status is Status.APPLIED and reg.core_result == {"person_id": 5}
    assert q(world, "select name, sex, birth_date, region_code from person_overview where person_id = 5") == [
        ("孙七", "1", date(1990, 3, 7), "370102")
    ]

    # 人员普通信息变更
    chg = through(world, worker, T.PERSON_CHANGE, {"person_id": 1, "phone": "13800001111"}, "chg")
    assert chg.status is Status.APPLIED
    # The phone is stored sealed; it opens to the applied value.
    phone = q(world, "select person_id, phone_enc from person_overview where person_id = 1")
    assert sealed.open_column(world.query, sealed.PERSON_PHONE, phone, key_at=0, value_at=1) == [(1, "13800001111")]

    # 人员新参保 from 2024-12-01 at 9,000: 2024-12, 2025-01, 2025-02 as 补收 (31), 2025-03 as 正常 (10).
    # Each month: 120 unit 1,440 + person 720; 116 unit 720 (虚账) + person 360 → 3,240; 补收 3 × 3,240 = 9,720.00
    enrol = through(
        world, worker, T.PERSON_ENROL, {"person_id": 3, "start_date": "2024-12-01", "monthly_wage": "9000"}, "enrol"
    )
    assert enrol.status is Status.APPLIED
    assert enrol.core_result is not None
    assert (enrol.core_result["back_months"], enrol.core_result["back_amount"]) == (3, "9720.00")
    kinds = q(
        world,
        "select period, kind, count(*) from contribution_month where person_id = 3 group by 1, 2 order by 1",
    )
    assert kinds == [(202412, "31", 2), (202501, "31", 2), (202502, "31", 2), (202503, "10", 2)]
    assert net(world, 3, 202412) == (D("9000.00"), D("1440.00"), D("720.00"))
    assert q(world, "select unit_id, pay_status, start_date from person_insurance where person_id = 3") == [
        (1, "1", date(2024, 12, 1)),
        (1, "1", date(2024, 12, 1)),
    ]
    assert q(world, "select unit_id, end_date from unit_roster where person_id = 3") == [(1, None)]

    # 年度缴费工资申报 2025: person 1 at 12,000, person 2 at 3,000 (below 60 % → 4,380).
    # Person 1: 2025-01 planned at 10,000 → 调基补差 (41) base +2,000: 120 unit +320, person +160;
    #   116 unit +160, person +80 → +720; 2025-02 planned 补收, 2025-03 正常 at 12,000.
    # Person 2: 2025-01 → base −5,620: 120 unit −899.20, person −449.60; 116 unit −449.60, person −224.80
    #   → −2,023.20; 2025-02 and 2025-03 planned at 4,380.  Adjustment total 720 − 2,023.20 = −1,303.20.
    wages = through(
        world,
        worker,
        T.ANNUAL_WAGE,
        {
            "year": 2025,
            "rows": [{"person_id": 1, "monthly_wage": "12000"}, {"person_id": 2, "monthly_wage": "3000"}],
        },
        "wage",
    )
    assert wages.core_result == {
        "persons": 2,
        "planned_months": 4,
        "adjusted_months": 2,
        "adjustment_amount": "-1303.20",
    }
    assert net(world, 1, 202501) == (D("12000.00"), D("1920.00"), D("960.00"))
    assert net(world, 2, 202501) == (D("4380.00"), D("700.80"), D("350.40"))
    assert net(world, 2, 202502, "116") == (D("4380.00"), D("350.40"), D("175.20"))

    # 人员停保 of person 2 on 2025-01-31: 2025-02 and 2025-03 reversed (退收, 21):
    # each month 120 700.80 + 350.40, 116 350.40 + 175.20 = 1,576.80 → 2 × 1,576.80 = 3,153.60
    stop = through(world, worker, T.PERSON_STOP, {"person_id": 2, "stop_date": "2025-01-31", "reason": "调出"}, "stop")
    assert stop.core_result is not None
    assert (stop.core_result["refund_months"], stop.core_result["refund_amount"]) == (2, "3153.60")
    assert net(world, 2, 202502) == (D("0.00"), D("0.00"), D("0.00"))
    assert net(world, 2, 202501) == (D("4380.00"), D("700.80"), D("350.40"))  # the stop month stays
    assert q(world, "select distinct pay_status from person_insurance where person_id = 2") == [("2",)]
    assert q(world, "select end_date from unit_roster where person_id = 2") == [(date(2025, 1, 31),)]

    # 人员续保 of person 2 from 2025-03-01 at 5,000: 2025-03 正常 at 5,000 (120 unit 800, person 400);
    # the month's net is 4,380 − 4,380 + 5,000.
    res = through(
        world, worker, T.PERSON_RESUME, {"person_id": 2, "resume_date": "2025-03-01", "monthly_wage": "5000"}, "res"
    )
    assert res.core_result is not None and res.core_result["back_months"] == 0
    assert net(world, 2, 202503) == (D("5000.00"), D("800.00"), D("400.00"))
    assert q(world, "select distinct pay_status from person_insurance where person_id = 2") == [("1",)]

    # 单位信息变更 and 单位银行账户与联系人维护
    through(world, worker, T.UNIT_CHANGE, {"name": "测试单位一（更名）"}, "unit")
    through(
        world,
        worker,
        T.UNIT_CONTACT,
        {"contact_phone": "13912345678", "bank_name": "工商银行历下支行", "bank_account": "6222020000123456"},
        "contact",
    )
    with world.query.cursor(row_factory=dict_row) as cur:
        cur.execute("select unit_id, name, contact_phone_enc, bank_account_enc from unit_overview where unit_id = 1")
        units = sealed.reveal(world.query, "unit_overview", cur.fetchall())
    assert [(u["name"], u["contact_phone"], u["bank_account"]) for u in units] == [
        ("测试单位一（更名）", "13912345678", "6222020000123456")
    ]

    # Every applied declaration: one 办结 notice to the unit contact, and its core position already in the store
    applied = world.hub.execute(
        "select reference, core_position from hub.declaration where status = 'applied' order by id"
    ).fetchall()
    assert len(applied) == 8
    notices = [  # the personalisation is sealed at rest (hub.messaging.sealed)
        (m["reference"], m["template"], m["personalisation"]["result"]) for m in sealed_sms.messages(world.hub)
    ]
    assert notices == [(ref, "declaration_done", "已生效") for ref, _ in applied]
    for _, position in applied:
        assert q(
            world, "select pg_visible_in_snapshot(%s::xid8, prev_snapshot::pg_snapshot) from sync_checkpoint", position
        ) == [(True,)]


def test_a_refusal_of_the_core_fails_the_declaration(world: World, worker: OutboxWorker) -> None:
    # person 1 is insured in unit 1 already: the reviewer approves anyway, the core refuses
    failed = through(
        world, worker, T.PERSON_ENROL, {"person_id": 1, "start_date": "2025-03-01", "monthly_wage": "9000"}, "f"
    )
    assert failed.status is Status.FAILED
    assert failed.reason == "该人员正在参保缴费，请先由原单位办理停保"
    assert world.hub.execute("select count(*) from hub.sms_message").fetchone() == (0,)
    assert q(world, "select count(*) from contribution_month where person_id = 1") == [(2,)]  # only the seeded January
    history = service.history(world.hub, kit.unit_operator(1), failed.id)
    assert [e.action for e in history][-3:] == ["approve", "send", "fail"]
    assert history[-1].reason == failed.reason
