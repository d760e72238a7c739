"""Preview of a declaration: bases after the 60–300 % bounds and the monthly amounts per 险种.

Parameters (tests.wagefile.files.params): 2024 全口径 monthly average wage 8,000.00, bounds 0.6 and
3 of the previous year's wage from 2019 on (DOMAIN.md §1.3), basic pension 16 % unit / 8 % person,
职业年金 (116) 8 % unit / 4 % person (§1.2). For the period 2025-01 the reference wage is the 2024 one:
lower bound 8,000.00 × 60 % = 4,800.00, upper bound 8,000.00 × 300 % = 24,000.00.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from hub.rules.params import ParameterMissing, plan_month
from hub.rules.period import Period
from hub.wagefile import DeclaredWage, preview
from tests.wagefile.files import params

D = Decimal
JAN_2025 = Period(2025, 1)


def row(n: int, wage: str) -> DeclaredWage:
    return DeclaredWage(n + 1, f"P{n}", f"id{n}", f"姓名{n}", D(wage), None, "")


ROWS = [row(1, "3000.00"), row(2, "6543.21"), row(3, "30000.00"), row(4, "5000.05"), row(5, "4800.00")]


def test_bounds_come_from_the_previous_years_average_wage() -> None:
    p = preview(ROWS, params(), JAN_2025, funding="2")
    assert p.bound_wage == D("8000.00")
    assert (p.lower, p.upper) == (D("4800.00"), D("24000.00"))  # 8,000 × 0.6 and 8,000 × 3
    # A year earlier the 2023 wage (7,500.00) applies: 7,500 × 0.6 = 4,500.00, × 3 = 22,500.00.
    earlier = preview(ROWS, params(), Period(2024, 1), funding="2")
    assert (earlier.lower, earlier.upper) == (D("4500.00"), D("22500.00"))


def test_each_line_by_hand() -> None:
    p = preview(ROWS, params(), JAN_2025, funding="2")
    got = [
        (x.declared, x.base, x.clamp, x.pension.unit, x.pension.person, x.annuity.unit, x.annuity.person)
        for x in p.lines
    ]
    assert got == [
        # 3,000.00 < 4,800.00: raised to the floor; 4,800 × 16 % = 768.00, × 8 % = 384.00, × 4 % = 192.00
        (D("3000.00"), D("4800.00"), "lower", D("768.00"), D("384.00"), D("384.00"), D("192.00")),
        # 6,543.21 × 16 % = 1,046.9136 → 1,046.91; × 8 % = 523.4568 → 523.46; × 4 % = 261.7284 → 261.73
        (D("6543.21"), D("6543.21"), None, D("1046.91"), D("523.46"), D("523.46"), D("261.73")),
        # 30,000.00 > 24,000.00: capped; 24,000 × 16 % = 3,840.00, × 8 % = 1,920.00, × 4 % = 960.00
        (D("30000.00"), D("24000.00"), "upper", D("3840.00"), D("1920.00"), D("1920.00"), D("960.00")),
        # 5,000.05 × 16 % = 800.008 → 800.01; × 8 % = 400.004 → 400.00; × 4 % = 200.002 → 200.00
        (D("5000.05"), D("5000.05"), None, D("800.01"), D("400.00"), D("400.00"), D("200.00")),
        # exactly the floor is not clamped: 4,800 × 16 % = 768.00 …
        (D("4800.00"), D("4800.00"), None, D("768.00"), D("384.00"), D("384.00"), D("192.00")),
    ]
    assert [x.clamp_text for x in p.lines][:3] == ["低于下限，按下限核定", "", "高于上限，按上限核定"]
    assert (p.clamped_lower, p.clamped_upper) == (1, 1)


def test_totals_by_hand() -> None:
    p = preview(ROWS, params(), JAN_2025, funding="2")
    # declared: 3,000.00 + 6,543.21 + 30,000.00 + 5,000.05 + 4,800.00 = 49,343.26
    assert p.declared_total == D("49343.26")
    # bases: 4,800.00 + 6,543.21 + 24,000.00 + 5,000.05 + 4,800.00 = 45,143.26
    assert p.base_total == D("45143.26")
    # pension unit: 768.00 + 1,046.91 + 3,840.00 + 800.01 + 768.00 = 7,222.92
    # pension person: 384.00 + 523.46 + 1,920.00 + 400.00 + 384.00 = 3,611.46
    assert (p.pension.aae140, p.pension.unit, p.pension.person) == ("120", D("7222.92"), D("3611.46"))
    # annuity unit (8 %) = pension person (8 %) line by line: 3,611.46;
    # annuity person: 192.00 + 261.73 + 960.00 + 200.00 + 192.00 = 1,805.73
    assert (p.annuity.aae140, p.annuity.unit, p.annuity.person) == ("116", D("3611.46"), D("1805.73"))
    # 差额供款 (funding 2): the annuity unit share is collected in cash.
    assert (p.annuity.unit_book, p.annuity.unit_payable) == (D(0), D("3611.46"))


def test_fully_budget_funded_unit_keeps_the_annuity_unit_share_as_a_book_entry() -> None:
    p = preview(ROWS, params(), JAN_2025, funding="1")
    assert p.annuity.unit == D("3611.46")
    assert (p.annuity.unit_book, p.annuity.unit_payable) == (D("3611.46"), D(0))
    assert p.pension.unit_payable == D("7222.92")  # the basic pension unit share is always cash
    assert all(not x.annuity.real_account and x.pension.real_account for x in p.lines)


@pytest.mark.parametrize("funding", ["1", "2", "3"])
def test_lines_equal_the_rules_month_plan(funding: str) -> None:
    p = preview(ROWS, params(), JAN_2025, funding=funding)
    for line, r in zip(p.lines, ROWS, strict=True):
        assert line.pension == plan_month(params(), "120", JAN_2025, r.wage, funding=funding)
        assert line.annuity == plan_month(params(), "116", JAN_2025, r.wage, funding=funding)


def test_a_missing_average_wage_is_named() -> None:
    with pytest.raises(ParameterMissing, match="2025"):
        preview(ROWS, params(), Period(2026, 1), funding="2")
