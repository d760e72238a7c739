"""The benefit decision with the transition comparison, worked by hand (DOMAIN.md §1.6, §1.7)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.benefits import BenefitInputs, decide
from hub.rules.params import (
    ParamRow,
    PayoutRow,
    RegionParams,
    TaxBracketRow,
    TransitionRow,
    WageRow,
)
from hub.rules.payout_months import SEED_PAYOUT_MONTHS
from hub.rules.tax import SEED_TAX_BRACKETS, SEED_TAX_BRACKETS_VALID_FROM
from hub.rules.transition import SEED_TRANSITION_SHARES

D = Decimal

PARAMS = RegionParams(
    region="370102",
    wage_rows=tuple(WageRow(y, "BENEFIT", D("8000")) for y in (2016, 2024)),
    payout_rows=tuple(PayoutRow(a, m) for a, m in SEED_PAYOUT_MONTHS.items()),
    tax_rows=tuple(
        TaxBracketRow(SEED_TAX_BRACKETS_VALID_FROM, b.lower, b.upper, b.rate, b.quick_deduction)
        for b in SEED_TAX_BRACKETS
    )
    + tuple(
        # the same table, valid earlier, so that a 2017 retirement finds one
        TaxBracketRow(date(2011, 9, 1), b.lower, b.upper, b.rate, b.quick_deduction)
        for b in SEED_TAX_BRACKETS
    ),
    transition_rows=tuple(TransitionRow(a, b, s) for a, b, s in SEED_TRANSITION_SHARES),
    param_rows=(
        ParamRow("TRANSITION_COEF", date(2014, 10, 1), "0.012"),
        ParamRow("MIN_YEARS", date(2014, 10, 1), "15"),
    ),
)


def inputs(retire: date, old: Decimal | None = None) -> BenefitInputs:
    return BenefitInputs(
        retire_date=retire,
        age_months=720,
        average_index=D("1.0"),
        paid_months=120,
        deemed_months=120,
        deemed_index=D("1.2"),
        account_balance=D("50000.00"),
        annuity_balance=D("30000.00"),
        old_method_amount=old,
    )


# C 8,000, Z 1.0, N 20, 视同 10 years at 1.2, coef 1.2 %, age 60 → 139 months:
# 基础 (8,000 + 8,000) / 2 × 20 % = 1,600.00; 账户 50,000 / 139 = 359.71; 过渡 8,000 × 1.2 × 10 × 1.2 % = 1,152.00;
# 年金 30,000 / 139 = 215.83, tax 3 % = 6.47, after 209.36; total 3,321.07
NEW_TOTAL = D("3321.07")


def test_after_the_transition_the_new_method_alone() -> None:
    d = decide(PARAMS, inputs(date(2025, 3, 1), old=D("9999")))
    assert d.method == "NEW" and d.approved == NEW_TOTAL
    assert d.paid_by_agency == D("3111.71")  # 3,321.07 − the annuity 209.36, paid separately


def test_in_2017_only_30_percent_of_the_excess_is_paid() -> None:
    d = decide(PARAMS, inputs(date(2017, 6, 1), old=D("3000.00")))
    # 补差 = (3,000 − 3,321.07) × (1 − 30 %) = −224.749 → −224.75; 核定 3,321.07 − 224.75 = 3,096.32
    assert dict(d.items)["补差"] == D("-224.75")
    assert d.method == "COMPARE" and d.approved == D("3096.32")


def test_in_2017_a_higher_old_amount_is_kept() -> None:
    d = decide(PARAMS, inputs(date(2017, 6, 1), old=D("3500.00")))
    # 保底: 补差 = 3,500 − 3,321.07 = 178.93, 核定 3,500.00
    assert dict(d.items)["补差"] == D("178.93") and d.approved == D("3500.00")
