"""Dated regional parameters (DOMAIN.md preface: numbers that change are dated parameters)."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from hub.rules.interest import InterestMethod, credit_year
from hub.rules.params import (
    ANNUITY_AAE140,
    BoundRow,
    InterestRow,
    LateFeeRow,
    ParameterMissing,
    ParamRow,
    PayoutRow,
    RateRow,
    RegionParams,
    TaxBracketRow,
    TransitionRow,
    WageRow,
    plan_month,
)
from hub.rules.payout_months import SEED_PAYOUT_MONTHS
from hub.rules.period import Period
from hub.rules.tax import SEED_TAX_BRACKETS, SEED_TAX_BRACKETS_VALID_FROM
from hub.rules.transition import SEED_TRANSITION_SHARES, transition_share

D = Decimal
P = Period.parse
BASIC, ANNUITY = "120", "116"


def _params() -> RegionParams:
    return RegionParams(
        region="110105",
        rate_rows=(
            RateRow(BASIC, "UNIT", 201410, 201904, D("0.20")),
            RateRow(BASIC, "UNIT", 201905, None, D("0.16")),  # 国办发〔2019〕13号 cut
            RateRow(BASIC, "PERSON", 201410, None, D("0.08"), D("0.08")),
            RateRow(ANNUITY, "UNIT", 201410, None, D("0.08"), D("0.08")),
            RateRow(ANNUITY, "PERSON", 201410, None, D("0.04"), D("0.04")),
        ),
        wage_rows=(
            WageRow(2017, "ONPOST", D("6000")),
            WageRow(2018, "ONPOST", D("8500")),
            WageRow(2018, "ALL", D("7500")),
            WageRow(2018, "BENEFIT", D("9000")),
            WageRow(2019, "ALL", D("8000")),
        ),
        bound_rows=(
            BoundRow(201410, 201812, D("0.6"), D("3"), "ONPOST"),
            BoundRow(201901, None, D("0.6"), D("3"), "ALL"),  # 全口径 from 2019 (DOMAIN §1.3)
        ),
        interest_rows=(InterestRow(2023, D("0.0397")), InterestRow(2024, D("0.0262"))),
        payout_rows=tuple(PayoutRow(age, months) for age, months in SEED_PAYOUT_MONTHS.items()),
        late_fee_rows=(LateFeeRow(date(1999, 1, 22), D("0.002")), LateFeeRow(date(2011, 7, 1), D("0.0005"))),
        tax_rows=tuple(
            TaxBracketRow(SEED_TAX_BRACKETS_VALID_FROM, b.lower, b.upper, b.rate, b.quick_deduction)
            for b in SEED_TAX_BRACKETS
        ),
        transition_rows=tuple(TransitionRow(a, b, s) for a, b, s in SEED_TRANSITION_SHARES),
        param_rows=(
            ParamRow(ANNUITY_AAE140, date(2014, 10, 1), ANNUITY),
            ParamRow("MIN_YEARS", date(2014, 10, 1), "15"),
            ParamRow("MIN_YEARS", date(2030, 1, 1), "15.5"),
        ),
    )


def test_rates_follow_the_period() -> None:
    params = _params()
    assert params.rates(BASIC, P(201904)).unit == D("0.20")
    assert params.rates(BASIC, P(201905)).unit == D("0.16")
    annuity = params.rates(ANNUITY, P(202401))
    assert (annuity.unit, annuity.person, annuity.account) == (D("0.08"), D("0.04"), D("0.12"))


def test_bounds_and_wages() -> None:
    params = _params()
    assert params.bounds(P(201812)) == (D("0.6"), D("3"), "ONPOST")
    assert params.bound_wage(P(201812)) == D("6000")  # 2017 在岗
    assert params.bound_wage(P(201903)) == D("7500")  # 2018 全口径, not the 8,500 在岗
    assert params.wage(2018, "BENEFIT") == D("9000")
    with pytest.raises(ValueError, match="kind"):
        params.wage(2018, "OTHER")


def test_plan_month_uses_the_period_rates_and_bounds() -> None:
    params = _params()
    # 201904: bounds of 2018 全口径 7,500 → 4,500..22,500; 10,000 inside; unit 20 % = 2,000, personal 800.
    april = plan_month(params, BASIC, P(201904), D("10000"), funding="1")
    assert (april.base, april.unit, april.person, april.to_account) == (
        D("10000.00"),
        D("2000.00"),
        D("800.00"),
        D("800.00"),
    )
    assert april.real_account  # the basic-pension unit share is collected even for 财政全额
    # 201905: the 16 % cut applies: 10,000 × 16 % = 1,600.
    assert plan_month(params, BASIC, P(201905), D("10000"), funding="1").unit == D("1600.00")
    # 201812: 2017 在岗 6,000 → lower 3,600; declared 3,000 is raised to 3,600:
    # unit 720.00, personal 288.00.
    low = plan_month(params, BASIC, P(201812), D("3000"), funding="2")
    assert (low.base, low.unit, low.person) == (D("3600.00"), D("720.00"), D("288.00"))
    # 202001 uses the 2019 全口径 8,000: above 300 % = 24,000 is capped.
    assert plan_month(params, BASIC, P(202001), D("30000"), funding="2").base == D("24000.00")


def test_plan_month_annuity_book_entry() -> None:
    params = _params()
    full = plan_month(params, ANNUITY, P(201906), D("10000"), funding="1")
    assert (full.unit, full.person, full.to_account, full.real_account) == (
        D("800.00"),
        D("400.00"),
        D("1200.00"),
        False,
    )
    assert plan_month(params, ANNUITY, P(201906), D("10000"), funding="3").real_account


def test_changing_a_rate_for_a_range_of_months() -> None:
    # A temporary relief: unit rate 0 for 202002..202006, then back to 16 %.
    base = _params()
    rows = tuple(r for r in base.rate_rows if not (r.aae140 == BASIC and r.payer == "UNIT" and r.to_period is None))
    params = replace(
        base,
        rate_rows=(
            *rows,
            RateRow(BASIC, "UNIT", 201905, 202001, D("0.16")),
            RateRow(BASIC, "UNIT", 202002, 202006, D("0")),
            RateRow(BASIC, "UNIT", 202007, None, D("0.16")),
        ),
    )
    units = [plan_month(params, BASIC, p, D("10000"), funding="2").unit for p in Period.range(P(202001), P(202007))]
    # 10,000 × 16 % = 1,600 in 202001 and 202007; 0 in the five relief months.
    assert units == [D("1600.00"), *[D("0.00")] * 5, D("1600.00")]
    assert plan_month(base, BASIC, P(202003), D("10000"), funding="2").unit == D("1600.00")


def test_changing_the_interest_rate_of_a_year() -> None:
    params = _params()
    method = InterestMethod.ANNUAL_1083
    # 3.97 %: 10,000 × 1.0397 + 2,400 × 1.02149755 = 12,848.59412 → 12,848.59
    assert credit_year(D("10000"), D("2400"), params.interest(2023), method)[1] == D("12848.59")
    # corrected to 2.62 %: 10,000 × 1.0262 = 10,262; 2,400 × (1 + 0.0262 × 0.5415) = 2,400 × 1.0141873
    # = 2,434.04952; closing 12,696.04952 → 12,696.05, interest 296.05.
    changed = replace(params, interest_rows=(InterestRow(2023, D("0.0262")),))
    assert credit_year(D("10000"), D("2400"), changed.interest(2023), method) == (D("296.05"), D("12696.05"))


def test_missing_parameters_are_named() -> None:
    params = _params()
    with pytest.raises(ParameterMissing, match=r"UNIT rate of 险种 120 covering 201409"):
        params.rates(BASIC, P(201409))
    with pytest.raises(ParameterMissing, match="ALL average wage for 2030"):
        params.bound_wage(P(203101))
    with pytest.raises(ParameterMissing, match="记账利率 for 2025"):
        params.interest(2025)
    with pytest.raises(ParameterMissing, match="base bounds covering 201409"):
        params.bounds(P(201409))
    with pytest.raises(ParameterMissing, match="ANNUITY_AAE140"):
        plan_month(replace(params, param_rows=()), BASIC, P(201906), D("10000"), funding="2")
    with pytest.raises(ParameterMissing, match="计发月数"):
        _ = RegionParams(region="x").payout_table


def test_dated_lookups() -> None:
    params = _params()
    assert params.late_fee_rate(date(2011, 6, 30)) == D("0.002")
    assert params.late_fee_rate(date(2011, 7, 1)) == D("0.0005")
    assert params.param("MIN_YEARS", date(2029, 12, 31)) == "15"
    assert params.param("MIN_YEARS", date(2030, 1, 1)) == "15.5"
    assert params.tax_brackets(date(2024, 5, 1)) == SEED_TAX_BRACKETS
    with pytest.raises(ParameterMissing, match="tax table"):
        params.tax_brackets(date(2018, 12, 31))
    assert dict(params.payout_table) == SEED_PAYOUT_MONTHS
    assert transition_share(date(2019, 3, 1), params.transition_table) == D("0.5")


def test_newer_tax_table_replaces_the_whole_table() -> None:
    params = _params()
    newer = (
        TaxBracketRow(date(2030, 1, 1), D("0"), D("5000"), D("0.03"), D("0")),
        TaxBracketRow(date(2030, 1, 1), D("5000"), None, D("0.10"), D("350")),
    )
    changed = replace(params, tax_rows=params.tax_rows + newer)
    assert len(changed.tax_brackets(date(2029, 12, 31))) == 7
    assert [b.lower for b in changed.tax_brackets(date(2030, 1, 1))] == [D("0"), D("5000")]


def test_overlapping_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="overlapping"):
        RegionParams(
            region="x",
            rate_rows=(
                RateRow(BASIC, "UNIT", 201410, 201912, D("0.20")),
                RateRow(BASIC, "UNIT", 201905, None, D("0.16")),
            ),
        )
    with pytest.raises(ValueError, match="overlapping"):
        RegionParams(
            region="x",
            bound_rows=(
                BoundRow(201410, None, D("0.6"), D("3"), "ONPOST"),
                BoundRow(201901, None, D("0.6"), D("3"), "ALL"),
            ),
        )


def test_row_validation() -> None:
    with pytest.raises(ValueError, match="payer"):
        RateRow(BASIC, "BOTH", 201410, None, D("0.2"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before"):
        RateRow(BASIC, "UNIT", 201910, 201901, D("0.2"))
    with pytest.raises(ValueError, match="month"):
        BoundRow(201413, None, D("0.6"), D("3"), "ALL")
