"""养老金测算 worked by hand from the rules (DOMAIN.md §1.3–§1.8); arithmetic in the comments."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from hub.rules.estimate import Assumptions, EstimateInputError, History, estimate, projected_wage
from hub.rules.params import (
    ANNUITY_AAE140,
    BoundRow,
    InterestRow,
    ParameterMissing,
    ParamRow,
    PayoutRow,
    RateRow,
    RegionParams,
    TaxBracketRow,
    WageRow,
)
from hub.rules.payout_months import SEED_PAYOUT_MONTHS
from hub.rules.tax import SEED_TAX_BRACKETS, SEED_TAX_BRACKETS_VALID_FROM

D = Decimal
ANNUITY = "180"  # the region's configured 职业年金 code in these tests

PARAMS = RegionParams(
    region="370102",
    rate_rows=(
        # §1.2: basic pension unit 16 %, person 8 % (all of it to the account); 职业年金 unit 8 % + person 4 %,
        # both credited (§1.8, Art. 7).
        RateRow("120", "UNIT", 201905, None, D("0.16"), D("0")),
        RateRow("120", "PERSON", 201905, None, D("0.08"), D("0.08")),
        RateRow(ANNUITY, "UNIT", 201410, None, D("0.08"), D("0.08")),
        RateRow(ANNUITY, "PERSON", 201410, None, D("0.04"), D("0.04")),
    ),
    wage_rows=(
        WageRow(2022, "ALL", D("6000")),
        WageRow(2023, "ALL", D("6000")),
        WageRow(2023, "BENEFIT", D("8000")),
    ),
    bound_rows=(BoundRow(201905, None, D("0.6"), D("3"), "ALL"),),
    interest_rows=(InterestRow(2022, D("0.0612")), InterestRow(2023, D("0.0397"))),
    payout_rows=tuple(PayoutRow(a, m) for a, m in SEED_PAYOUT_MONTHS.items()),
    tax_rows=tuple(
        TaxBracketRow(SEED_TAX_BRACKETS_VALID_FROM, b.lower, b.upper, b.rate, b.quick_deduction)
        for b in SEED_TAX_BRACKETS
    ),
    param_rows=(
        ParamRow("TRANSITION_COEF", date(2014, 10, 1), "0.012"),
        ParamRow("MIN_YEARS", date(2014, 10, 1), "15"),
        ParamRow("INTEREST_METHOD", date(2014, 10, 1), "ANNUAL_1083"),
        ParamRow(ANNUITY_AAE140, date(2014, 10, 1), ANNUITY),
    ),
)

# Born January 1964, male: statutory age 60 (before the 2025 reform's first cohort, §1.1), so he retires
# from 2024-01-01; the record is as of the end of 2023: 111 months paid (2014-10 … 2023-12), 10 years 视同.
RETIRING_NOW = History(
    birth=date(1964, 1, 15),
    sex="1",
    balance_year=2023,
    account_balance=D("100000.00"),
    annuity_balance=D("50000.00"),
    deemed_months=120,
    paid_months=111,
    average_index=D("1.2000"),
    deemed_index=D("1.0"),
    current_wage=D("10000"),
)


def test_retiring_right_after_the_last_statement_uses_the_formulas_directly() -> None:
    e = estimate(PARAMS, RETIRING_NOW)
    assert e.retire_date == date(2024, 1, 1) and e.age_months == 720 and e.years == ()
    # §1.5: age 60 → 139 months. §1.6 with C = 计发基数 2023 = 8,000, Z = 1.2, N = (111 + 120) / 12 = 19.25:
    # 基础 = (8,000 + 8,000 × 1.2) / 2 × 19.25 × 1 % = 8,800 × 0.1925 = 1,694.00
    # 账户 = 100,000 / 139 = 719.424… → 719.42
    # 过渡 = 8,000 × 1.0 × 10 × 1.2 % = 960.00
    # 年金 = 50,000 / 139 = 359.712… → 359.71; tax 3 % = 10.7913 → 10.79; after tax 348.92 (§1.8)
    # total = 1,694.00 + 719.42 + 960.00 + 348.92 = 3,722.34
    b = e.benefit
    assert (b.basic, b.account, b.transitional) == (D("1694.00"), D("719.42"), D("960.00"))
    assert (b.annuity_before_tax, b.annuity_tax, b.annuity_after_tax) == (D("359.71"), D("10.79"), D("348.92"))
    assert b.total == D("3722.34") and dict(e.items)["月养老金合计"] == D("3722.34")
    assert e.payout_months == D("139") and e.c == D("8000") and e.average_index == D("1.2000")


def test_two_projected_years_with_wage_growth_interest_and_a_later_retirement() -> None:
    # Born January 1965: statutory age 60 y 1 m (§1.1, first cohort); he chooses 61 y 0 m (732 months,
    # within 60 y 0 m … 63 y 1 m), so he retires from 2026-01-01 and contributes all of 2024 and 2025.
    history = replace(RETIRING_NOW, birth=date(1965, 1, 10))
    e = estimate(
        PARAMS,
        history,
        Assumptions(
            retire_age_months=732, wage_growth=D("0.10"), average_wage_growth=D("0.05"), interest_rate=D("0.02")
        ),
    )
    assert e.statutory_age_months == 721 and e.retire_date == date(2026, 1, 1)
    y2024, y2025 = e.years
    # Wages: 2024 10,000 (the given wage), 2025 10,000 × 1.10 = 11,000.
    # Bound wage (§1.3, 全口径 of the year before): 2024 → ALL 2023 = 6,000 (published);
    # 2025 → ALL 2024, not published: 6,000 × 1.05 = 6,300.00. Bases inside 60 %–300 %: 10,000 and 11,000.
    assert (y2024.wage, y2024.base, y2024.bound_wage) == (D("10000.00"), D("10000.00"), D("6000"))
    assert (y2025.wage, y2025.base, y2025.bound_wage) == (D("11000.00"), D("11000.00"), D("6300.00"))
    # Basic account (§1.4, ANNUAL_1083 at 2 %: prior × 1.02 + credits × (1 + 0.02 × 1.083 / 2) = × 1.01083):
    # credits 2024 12 × 800 = 9,600; 2025 12 × 880 = 10,560.
    # 2024: 100,000 × 1.02 + 9,600 × 1.01083 = 102,000 + 9,703.968 = 111,703.968 → 111,703.97
    # 2025: 111,703.97 × 1.02 + 10,560 × 1.01083 = 113,938.0494 + 10,674.3648 = 124,612.4142 → 124,612.41
    assert (y2024.basic_credited, y2024.basic_closing) == (D("9600.00"), D("111703.97"))
    assert (y2025.basic_credited, y2025.basic_closing) == (D("10560.00"), D("124612.41"))
    # 职业年金 (12 % of the base credited, §1.8): 2024 12 × 1,200 = 14,400; 2025 12 × 1,320 = 15,840.
    # 2024: 50,000 × 1.02 + 14,400 × 1.01083 = 51,000 + 14,555.952 = 65,555.952 → 65,555.95
    # 2025: 65,555.95 × 1.02 + 15,840 × 1.01083 = 66,867.069 + 16,011.5472 = 82,878.6162 → 82,878.62
    assert (y2025.annuity_credited, e.annuity_balance) == (D("15840.00"), D("82878.62"))
    # Z (§1.6) = (1.2 × 111 + 12 × 10,000/6,000 + 12 × 11,000/6,300) / 135
    #          = (133.2 + 20 + 20.952381) / 135 = 174.152381 / 135 = 1.290018 → 1.2900
    assert e.paid_months == 135 and e.average_index == D("1.2900")
    # C = 计发基数 2025, not published: 8,000 × 1.05² = 8,820.00. 计发月数 at 61 = 132. N = (135 + 120) / 12 = 21.25.
    # 基础 = (8,820 + 8,820 × 1.29) / 2 × 21.25 % = 10,098.9 × 0.2125 = 2,146.01625 → 2,146.02
    # 账户 = 124,612.41 / 132 = 944.033… → 944.03
    # 过渡 = 8,820 × 1.0 × 10 × 1.2 % = 1,058.40
    # 年金 = 82,878.62 / 132 = 627.868… → 627.87; tax 3 % = 18.8361 → 18.84; after 609.03
    # total = 2,146.02 + 944.03 + 1,058.40 + 609.03 = 4,757.48
    b = e.benefit
    assert e.c == D("8820.00") and e.payout_months == D("132")
    assert (b.basic, b.account, b.transitional, b.annuity_after_tax) == (
        D("2146.02"),
        D("944.03"),
        D("1058.40"),
        D("609.03"),
    )
    assert b.total == D("4757.48")


def test_months_of_the_retirement_year_count_without_interest() -> None:
    # Retiring from 2024-04-01 (born 1964-01, age 60 y 3 m = 723 months): January–March 2024 are paid.
    e = estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=723, wage_growth=D("0"), interest_rate=D("0.02")))
    (y2024,) = e.years
    # 3 months × 800 = 2,400 added to 100,000 without interest (the year is not closed at retirement).
    assert y2024.months == 3 and e.account_balance == D("102400.00")
    # Z = (1.2 × 111 + 3 × 10,000 / 6,000) / 114 = (133.2 + 5) / 114 = 1.212280… → 1.2123
    assert e.average_index == D("1.2123")
    # 计发月数 at 60 y 3 m: 139 − (139 − 132) × 3 / 12 = 137.25 → 137.3 (§1.5)
    assert e.payout_months == D("137.3")
    # 账户 = 102,400 / 137.3 = 745.812… → 745.81
    assert e.benefit.account == D("745.81")


def test_the_base_is_held_inside_the_bounds() -> None:
    # A wage of 30,000 against a bound wage of 6,000: only 300 % = 18,000 counts (§1.3), so 12 × 1,440
    # = 17,280 is credited, and the month's index is 3.0.
    history = replace(RETIRING_NOW, current_wage=D("30000"))
    e = estimate(PARAMS, history, Assumptions(retire_age_months=744, wage_growth=D("0"), interest_rate=D("0")))
    assert e.years[0].base == D("18000.00") and e.years[0].basic_credited == D("17280.00")
    # Retiring from 2026-01 at 62 y 0 m, 2024 and 2025 are full years; the 2025 bound wage is ALL 2024,
    # projected at 0 % growth: 6,000.00. Every month's index is 18,000 / 6,000 = 3.0:
    # Z = (1.2 × 111 + 24 × 3.0) / 135 = (133.2 + 72) / 135 = 205.2 / 135 = 1.52
    assert e.years[1].bound_wage == D("6000.00")
    assert e.average_index == D("1.5200")


def test_default_interest_is_the_latest_published_rate() -> None:
    e = estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=732))
    assert e.interest_rate == D("0.0397") and e.annuity_return == D("0.0397")


def test_fewer_than_fifteen_years_gives_no_basic_pension() -> None:
    # 5 years 视同 + 8 years paid = 13 < 15 (§1.6): the basic and transitional parts are zero.
    history = replace(RETIRING_NOW, deemed_months=60, paid_months=96)
    b = estimate(PARAMS, history).benefit
    assert not b.entitled and b.basic == D("0.00") and b.transitional == D("0.00")
    assert b.account == D("719.42")  # the account is still shown: 100,000 / 139


def test_more_growth_never_lowers_the_estimate() -> None:
    low = estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=732, wage_growth=D("0")))
    high = estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=732, wage_growth=D("0.08")))
    later = estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=744, wage_growth=D("0")))
    assert high.benefit.total > low.benefit.total
    assert later.benefit.total > low.benefit.total  # a year more: more months, fewer 计发月数


def test_retirement_age_outside_the_flexible_range_is_refused() -> None:
    with pytest.raises(EstimateInputError, match="退休年龄应在60岁0个月至63岁0个月之间"):
        estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=719))
    with pytest.raises(EstimateInputError):
        estimate(PARAMS, RETIRING_NOW, Assumptions(retire_age_months=757))
    with pytest.raises(EstimateInputError, match="工资增长率"):
        estimate(PARAMS, RETIRING_NOW, Assumptions(wage_growth=D("0.9")))
    with pytest.raises(EstimateInputError, match="个人账户储存额"):
        estimate(PARAMS, replace(RETIRING_NOW, account_balance=D("-1")))


def test_projected_wage_and_missing_parameters() -> None:
    # Published values are used as they are; later years grow from the latest: 6,000 × 1.1³ = 7,986.00.
    assert projected_wage(PARAMS, 2023, "ALL", D("0.1")) == D("6000")
    assert projected_wage(PARAMS, 2026, "ALL", D("0.1")) == D("7986.00")
    with pytest.raises(ParameterMissing):
        projected_wage(PARAMS, 2020, "ALL", D("0.1"))  # nothing published before 2020
    with pytest.raises(ParameterMissing):
        estimate(replace(PARAMS, interest_rows=()), RETIRING_NOW, Assumptions(retire_age_months=732))
