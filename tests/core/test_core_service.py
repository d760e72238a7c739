"""The core's decisions on real PostgreSQL, with amounts worked out by hand from DOMAIN.md."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from core import service
from hub import pg
from hub.rules.period import Period
from tests.conftest import Databases
from tests.fixtures import core_rows, params

D = Decimal


def _setup(conn: psycopg.Connection[Any], *, funding: str = "1") -> None:
    params.write(conn)
    core_rows.unit(conn, 1, funding=funding)
    conn.execute(
        "insert into core.ac01 (aac001, aac002, aac003, aac004, aac006, aac007, aac067, aaa027) "
        "values (1, '370102196501010014', '王建国', '1', '1965-01-01', '1985-07-01', '13900000001', '370102')"
    )
    for aae140 in ("120", "116"):
        conn.execute(
            "insert into core.ac02 (aac001, aae140, aab001, aac008, aac030, aac031, aac049, deemed_months) "
            "values (1, %s, 1, '1', '2014-10-01', '1', 201410, 228)",
            (aae140,),
        )


def _amounts(conn: psycopg.Connection[Any], period: int) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "select aae140, aae180, aae020, aae022, to_account, real_account from core.ac43 "
        "where aac001 = 1 and aae003 = %s",
        (period,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_plan_clamps_the_base_and_applies_the_rates(dbs: Databases) -> None:
    with pg.connect(dbs.core_url) as conn:
        _setup(conn)
        service.plan_contributions(conn, 1, 1, Period(2024, 1), Period(2024, 1), D("3000"))
        # 2023 全口径 wage 7,000/month → lower bound 60 % = 4,200 > declared 3,000 (DOMAIN §1.3)
        # 120: unit 16 % × 4,200 = 672.00, person 8 % = 336.00, all of it to the account
        # 116 (全额供款 unit → 虚账 unit share): unit 8 % = 336.00, person 4 % = 168.00, account 504.00
        assert _amounts(conn, 202401) == {
            "120": (D("4200.00"), D("672.00"), D("336.00"), D("336.00"), True),
            "116": (D("4200.00"), D("336.00"), D("168.00"), D("504.00"), False),
        }
        service.plan_contributions(conn, 1, 1, Period(2024, 2), Period(2024, 2), D("30000"))
        # upper bound 300 % × 7,000 = 21,000: unit 16 % = 3,360.00
        assert _amounts(conn, 202402)["120"][:2] == (D("21000.00"), D("3360.00"))


def test_a_dated_rate_change_changes_the_amounts(dbs: Databases) -> None:
    with pg.connect(dbs.core_url) as conn:
        _setup(conn, funding="3")
        # the unit rate is 20 % until 2024-04 and 16 % from 2024-05
        conn.execute("update core.ya_rate set from_period = 202405 where aae140 = '120' and payer = 'UNIT'")
        conn.execute(
            "insert into core.ya_rate (aaa027, aae140, payer, from_period, to_period, rate, account_rate, source) "
            "values ('370102', '120', 'UNIT', 201905, 202404, 0.20, 0, '测试')"
        )
        conn.execute("update core.ya_rate set from_period = 201905 where aae140 = '120' and payer = 'PERSON'")
        service.plan_contributions(conn, 1, 1, Period(2024, 4), Period(2024, 5), D("10000"))
        assert _amounts(conn, 202404)["120"][1] == D("2000.00")  # 20 % × 10,000
        assert _amounts(conn, 202405)["120"][1] == D("1600.00")  # 16 % × 10,000
        # 自收自支 unit: the annuity unit share is 实账
        assert _amounts(conn, 202405)["116"][4] is True
        conn.execute("delete from core.ac43")
        conn.execute("update core.ya_rate set rate = 0.18 where aae140 = '120' and to_period = 202404")
        service.plan_contributions(conn, 1, 1, Period(2024, 4), Period(2024, 4), D("10000"))
        assert _amounts(conn, 202404)["120"][1] == D("1800.00")  # 18 % × 10,000


def test_a_missing_parameter_is_refused(dbs: Databases) -> None:
    from hub.rules.params import ParameterMissing

    with pg.connect(dbs.core_url) as conn:
        _setup(conn)
        with pytest.raises(ParameterMissing):
            service.plan_contributions(conn, 1, 1, Period(2026, 1), Period(2026, 1), D("5000"))  # no 2025 wage


def test_crediting_with_the_years_rate_and_a_changed_rate(dbs: Databases) -> None:
    with pg.connect(dbs.core_url) as conn:
        _setup(conn)
        service.plan_contributions(conn, 1, 1, Period(2024, 1), Period(2024, 12), D("3000"))
        for month in range(1, 13):
            service.record_arrival(conn, 1, Period(2024, month), date(2024, month, 15))
        result = service.credit_accounts(conn, 1, 2024)
        # basic: credited 12 × 336 = 4,032; r = 2.62 %: 4,032 × (1 + 0.0262 × 1.083 / 2)
        #   = 4,032 × 1.0141873 = 4,089.2032 → closing 4,089.20, interest 57.20 (DOMAIN §1.4)
        assert result["1"] == (D("57.20"), D("4089.20"))
        # annuity: credited 12 × 504 = 6,048 × 1.0141873 = 6,133.8048 → 6,133.80, interest 85.80
        assert result["2"] == (D("85.80"), D("6133.80"))
        conn.execute("update core.ya_interest set rate = 0.0150 where aae001 = 2024")
        # r = 1.5 %: 4,032 × 0.015 × 1.083 / 2 = 4,032 × 0.0081225 = 32.7499 → 32.75
        assert service.credit_accounts(conn, 1, 2024)["1"] == (D("32.75"), D("4064.75"))


def test_benefit_approval_new_method(dbs: Databases) -> None:
    with pg.connect(dbs.core_url) as conn:
        _setup(conn)
        service.plan_contributions(conn, 1, 1, Period(2024, 1), Period(2024, 12), D("3000"))
        for month in range(1, 13):
            service.record_arrival(conn, 1, Period(2024, month), date(2024, month, 15))
        service.credit_accounts(conn, 1, 2024)
        decision = service.approve_benefit(conn, 1, date(2025, 1, 1))
        # Z = 4,200 / 7,000 = 0.6; N = (12 + 228) / 12 = 20; C = 2024 计发基数 8,000; age 60 → 139 months
        # 基础 (8,000 + 8,000 × 0.6) / 2 × 20 × 1 % = 1,280.00
        # 个人账户 4,089.20 / 139 = 29.4187 → 29.42
        # 过渡性 8,000 × 1.0 × 19 × 1.2 % = 1,824.00
        # 年金 6,133.80 / 139 = 44.1281 → 44.13; tax 3 % = 1.3239 → 1.32; after tax 42.81
        # total 1,280.00 + 29.42 + 1,824.00 + 42.81 = 3,176.23; the agency pays 3,176.23 − 42.81 = 3,133.42
        items = {item: amount for item, amount in conn.execute("select item, amount from core.ic61 where aac001 = 1")}
        assert (items["基础养老金"], items["个人账户养老金"], items["过渡性养老金"]) == (
            D("1280.00"),
            D("29.42"),
            D("1824.00"),
        )
        assert (items["职业年金(税前)"], items["职业年金个税"], items["职业年金(税后)"]) == (
            D("44.13"),
            D("1.32"),
            D("42.81"),
        )
        assert decision.method == "NEW" and decision.approved == D("3176.23")
        row = conn.execute("select monthly_total, monthly_paid, annuity_monthly from core.ic60").fetchone()
        assert row == (D("3176.23"), D("3133.42"), D("42.81"))
        assert conn.execute("select aac084 from core.ac01 where aac001 = 1").fetchone() == ("1",)
