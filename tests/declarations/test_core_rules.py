"""The core's refusals for declarations: each a Chinese reason, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from core import service
from core.service import CoreError
from hub import pg
from hub.ids import make_id_number
from tests.conftest import Databases
from tests.declarations import kit

D = Decimal


def test_refusals_write_nothing(dbs: Databases) -> None:
    with pg.connect(dbs.core_url) as core:
        kit.seed_core(core)
        core.commit()
        before = core.execute("select count(*) from core.chg_log").fetchone()
        cases: list[tuple[Callable[[], object], str]] = [
            (
                lambda: service.declare_wages(
                    core, 1, 2025, [(1, D("9000")), (3, D("9000")), (4, D("9000"))], kit.TODAY
                ),
                "个人编号3不在本单位在册参保名单中等2人",
            ),
            (lambda: service.enrol(core, 1, 3, date(2025, 4, 1), D("9000"), kit.TODAY), "参保日期不能晚于经办当月"),
            (
                lambda: service.enrol(core, 2, 1, date(2025, 3, 1), D("9000"), kit.TODAY),
                "该人员正在参保缴费，请先由原单位办理停保",
            ),
            (lambda: service.stop(core, 1, 1, date(2024, 12, 31)), "停保日期不能早于本次参保日期"),
            (lambda: service.stop(core, 2, 1, date(2025, 2, 28)), "个人编号1不在本单位在册参保名单中"),
            (
                lambda: service.resume(core, 1, 3, date(2025, 3, 1), D("9000"), kit.TODAY),
                "该人员不是本单位暂停缴费人员，不能续保",
            ),
            (lambda: service.change_person(core, 1, 99, {"phone": "13900000000"}), "个人编号99不存在"),
            (lambda: service.change_unit(core, 9, {"name": "x"}), "单位不存在"),
        ]
        for call, reason in cases:
            with pytest.raises(CoreError) as info, core.transaction():
                call()
            assert info.value.title == reason
        assert core.execute("select count(*) from core.chg_log").fetchone() == before
        # after a stop at the end of January, a resumption in January is refused
        service.stop(core, 1, 2, date(2025, 1, 31))
        with pytest.raises(CoreError, match="续保月份应晚于停保月份"), core.transaction():
            service.resume(core, 1, 2, date(2025, 1, 31), D("9000"), kit.TODAY)
        number = make_id_number("370102", date(1990, 3, 7), 21, "1")
        pid = service.register_person(
            core,
            1,
            id_number=number,
            name="孙七",
            ethnicity="01",
            work_start=date(2012, 7, 1),
            phone="13700001111",
            position_level=None,
        )
        assert pid == 5  # persons 1–4 exist
        with pytest.raises(CoreError, match="已登记，个人编号5"):
            service.register_person(
                core,
                1,
                id_number=number,
                name="孙七",
                ethnicity="01",
                work_start=date(2012, 7, 1),
                phone="13700001111",
                position_level=None,
            )
