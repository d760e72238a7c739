"""Through to the core and back: enrol, stop and resume a person from the unit portal; each approved by a
reviewer, sent by the outbox worker to the core's command API (a real HTTP server process), applied by
the core's rules and carried into the query store by the sync, where the portal's next page finds it.
Also the 补收 estimate against the hand-checkable parameters.

Parameters (tests/fixtures/params.py, region 370102): 120 unit 16 % / person 8 %, 116 unit 8 % / person 4 %;
bounds 60 %–300 % of the year-before wage: periods of 2024 use 7,000 (4,200–21,000), of 2025 7,300
(4,380–21,900). Unit 1 is 财政全额供款 (its 116 unit share is 虚账), unit 2 自收自支. The core's 经办日期 is
2025-03-10 (kit.NOW), so 2025-03 is the core's current month.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from core import params as core_params
from hub import pg
from hub.declarations import service
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.declarations.states import Status
from hub.ids import make_id_number
from hub.rules.backpay import estimate_back_pay
from tests.declarations import kit
from tests.declarations.conftest import World, world
from tests.portal_unit_staff.conftest import log_in
from tests.portal_unit_staff.support import open_form, post

__all__ = ["world"]
D = Decimal


def test_back_pay_estimate_by_hand(world: World) -> None:
    with pg.connect(world.dbs.core_url) as core:
        params = core_params.load(core, kit.REGION)
    on = date(2025, 3, 10)
    # From 2025-01-01: 2025-01 and 2025-02 are 补收 (the current month 2025-03 is a normal month).
    # Wage 10,000 inside 4,380–21,900: 120 unit 1,600 + person 800, 116 person 400 in cash, 116 unit 800 虚账
    # for a 全额 unit → 2 × 2,800 = 5,600.00 cash and 2 × 800 = 1,600.00 book.
    full = estimate_back_pay(params, "1", date(2025, 1, 1), on, D("10000"))
    assert (full.months, full.total, full.book) == (2, D("5600.00"), D("1600.00"))
    assert (str(full.first), str(full.last)) == ("202501", "202502")
    # 自收自支 pays the 116 unit share too: 2 × 3,600 = 7,200.00.
    own = estimate_back_pay(params, "3", date(2025, 1, 1), on, D("10000"))
    assert (own.total, own.book) == (D("7200.00"), D("0"))
    # Wage 3,000 is raised to the lower bound 4,380: 120 700.80 + 350.40, 116 person 175.20 → 1,226.40 a month;
    # from 2024-12: 2024-12 uses the 2024 bounds (4,200: 672.00 + 336.00 + 168.00 = 1,176.00), then 2 × 1,226.40.
    low = estimate_back_pay(params, "1", date(2024, 12, 15), on, D("3000"))
    assert (low.months, low.total) == (3, D("1176.00") + 2 * D("1226.40"))
    # This month: nothing is 补收.
    assert estimate_back_pay(params, "1", date(2025, 3, 1), on, D("10000")).months == 0


@pytest.fixture
def worker(world: World) -> Iterator[OutboxWorker]:
    with kit.core_api(world.dbs.core_url) as api:
        w = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, DeclarationSettings(core_api_url=api.url))
        yield w
        w.close()


def _approve_and_apply(world: World, worker: OutboxWorker, location: str) -> int:
    declaration_id = int(location.rsplit("/", 1)[1])
    rev = kit.reviewer()
    service.claim(world.hub, rev, declaration_id, now=kit.NOW)
    service.approve(world.hub, rev, declaration_id, now=kit.NOW)
    world.hub.commit()
    assert worker.step() == 1
    world.sync_round()
    decl = service.get(world.hub, kit.unit_operator(1), declaration_id)
    assert decl.status is Status.APPLIED, decl.reason
    return declaration_id


def _submit(client: TestClient, slug: str, values: dict[str, str]) -> str:
    form = open_form(client, slug)
    checked = post(client, slug, form, values, "check")
    assert checked.status_code == 200, checked.text
    sent = post(client, slug, form, values, "submit")
    assert sent.status_code == 303
    return str(sent.headers["location"])


def _q(world: World, sql: str, *args: object) -> list[tuple[object, ...]]:
    return world.query.execute(sql, args).fetchall()


def test_enrol_stop_resume_through_the_core(world: World, worker: OutboxWorker) -> None:
    with ExitStack() as stack:
        client = log_in(stack, world.dbs, 1)
        # 人员基本信息登记 of 孙七: the core gives the next 个人编号 (persons 1–4 exist), 5.
        number = make_id_number("370102", date(1990, 3, 7), 21, "1")
        where = _submit(client, "register", {"id_number": number, "name": "孙七", "ethnicity": "01",
                                             "work_start": "2012-07-01", "phone": "13700001111"})  # fmt: skip
        registered = _approve_and_apply(world, worker, where)
        assert service.get(world.hub, kit.unit_operator(1), registered).core_result == {"person_id": 5}
        assert _q(world, "select name, sex, birth_date from person_overview where person_id = 5") == [
            ("孙七", "1", date(1990, 3, 7))
        ]

        # 人员新参保 of 孙七, found by ID number and name, from 2024-12-01 at 9,000.
        where = _submit(client, "enrol", {"id_number": number, "name": "孙七",
                                          "start_date": "2024-12-01", "monthly_wage": "9000"})  # fmt: skip
        enrolled = _approve_and_apply(world, worker, where)
        # The core's 补收: 2024-12, 2025-01, 2025-02 at 3,240 a month (120 1,440 + 720, 116 720 + 360) = 9,720.00.
        result = service.get(world.hub, kit.unit_operator(1), enrolled).core_result
        assert result is not None and (result["back_months"], result["back_amount"]) == (3, "9720.00")
        assert _q(world, "select unit_id, end_date from unit_roster where person_id = 5") == [(1, None)]

        # 人员停保 on 2025-01-31: the planned 2025-02 (补收) and 2025-03 (正常) are refunded. Each month
        # at 9,000: 120 1,440 + 720, 116 720 + 360 = 3,240 → 2 × 3,240 = 6,480.00.
        stop = {"person_id": "5", "stop_date": "2025-01-31", "reason": "调出"}
        form = open_form(client, "stop")
        checked = post(client, "stop", form, stop, "check")
        assert "已核定 2 个月的缴费，审核办结后将退收，共约 6,480.00 元" in checked.text
        where = str(post(client, "stop", form, stop, "submit").headers["location"])
        _approve_and_apply(world, worker, where)
        assert _q(world, "select distinct pay_status from person_insurance where person_id = 5") == [("2",)]

        # 人员续保: person 5 is now offered; from 2025-03-01 (the core's current month) at 9,000.
        offered = client.get("/portal/unit/staff/resume")
        assert '<option value="5">' in offered.text
        too_early = post(client, "resume", open_form(client, "resume"),
                         {"person_id": "5", "resume_date": "2025-01-15", "monthly_wage": "9000"}, "check")  # fmt: skip
        assert too_early.status_code == 422 and "续保月份应晚于停保月份" in too_early.text
        where = _submit(client, "resume", {"person_id": "5", "resume_date": "2025-03-01", "monthly_wage": "9000"})
        _approve_and_apply(world, worker, where)
        assert _q(world, "select distinct pay_status from person_insurance where person_id = 5") == [("1",)]
        assert _q(world, "select unit_id, start_date from unit_roster where person_id = 5 and end_date is null") == [
            (1, date(2025, 3, 1))
        ]
        # The resumed person is on the roster again, so no longer offered for 续保 but for 停保.
        assert '<option value="5">' not in client.get("/portal/unit/staff/resume").text
        assert '<option value="5">' in client.get("/portal/unit/staff/stop").text
