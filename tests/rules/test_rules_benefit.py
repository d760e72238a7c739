"""New-method benefit (DOMAIN.md §1.6). Figures computed by hand."""

from decimal import Decimal

import pytest

from hub.rules.benefit import (
    NewMethodBenefit,
    account_pension,
    annuity_monthly,
    average_index,
    basic_pension,
    new_method,
    transitional_pension,
    years_of,
)
from hub.rules.tax import SEED_TAX_BRACKETS

D = Decimal


def test_basic_pension() -> None:
    # (10,000 + 10,000 × 1.2) / 2 × 30 × 1 % = 11,000 × 0.3 = 3,300.00
    assert basic_pension(D("10000"), D("1.2"), 30) == D("3300.00")
    # N = 366 months / 12 = 30.5 years: 11,000 × 30.5 × 1 % = 3,355.00
    assert basic_pension(D("10000"), D("1.2"), years_of(366)) == D("3355.00")
    # N = 361/12: 11,000 × 30.0833… × 1 % = 3,309.1666… → 3,309.17
    assert basic_pension(D("10000"), D("1.2"), years_of(361)) == D("3309.17")


def test_account_and_annuity_pensions() -> None:
    assert account_pension(D("139000"), D("139")) == D("1000.00")
    # 100,000 / 138.4 = 722.5433… → 722.54
    assert account_pension(D("100000"), D("138.4")) == D("722.54")
    assert annuity_monthly(D("556000"), D("139")) == D("4000.00")
    with pytest.raises(ValueError, match="计发月数"):
        annuity_monthly(D("1"), D("0"))


def test_transitional_pension() -> None:
    # 10,000 × 1.0 × 10 × 1.2 % = 1,200.00
    assert transitional_pension(D("10000"), D("1.0"), 10, D("0.012")) == D("1200.00")
    # 11,883 × 0.95 × 7.5 × 1.3 % = 1,100.66… : 11,883 × 0.95 = 11,288.85; × 7.5 = 84,666.375;
    # × 0.013 = 1,100.662875 → 1,100.66
    assert transitional_pension(D("11883"), D("0.95"), D("7.5"), D("0.013")) == D("1100.66")


def test_average_index() -> None:
    # (10,000/8,000 + 12,000/8,000 + 6,000/10,000) / 3 = (1.25 + 1.5 + 0.6) / 3 = 1.11666… → 1.1167
    pairs = [(D("10000"), D("8000")), (D("12000"), D("8000")), (D("6000"), D("10000"))]
    assert average_index(pairs) == D("1.1167")
    # Only the mean is rounded: (1.00004 + 1.00004 + 1.00007) / 3 = 1.00005 → 1.0001, whereas
    # rounding each month first would give (1.0000 + 1.0000 + 1.0001) / 3 → 1.0000.
    pairs = [(D("100004"), D("100000"))] * 2 + [(D("100007"), D("100000"))]
    assert average_index(pairs) == D("1.0001")
    with pytest.raises(ValueError, match="at least one"):
        average_index([])


def test_new_method_composite() -> None:
    # basic 3,300.00 (above); account 139,000 / 139 = 1,000.00; transitional 1,200.00 (above);
    # annuity 556,000 / 139 = 4,000.00, tax 4,000 × 10 % − 210 = 190.00, after tax 3,810.00;
    # total 3,300 + 1,000 + 1,200 + 3,810 = 9,310.00.
    b = new_method(
        c=D("10000"),
        z=D("1.2"),
        years=D("30"),
        account_balance=D("139000"),
        payout_months=D("139"),
        annuity_balance=D("556000"),
        tax_brackets=SEED_TAX_BRACKETS,
        z_deemed=D("1.0"),
        years_deemed=D("10"),
        transition_coef=D("0.012"),
    )
    assert b == NewMethodBenefit(
        basic=D("3300.00"),
        account=D("1000.00"),
        transitional=D("1200.00"),
        annuity_before_tax=D("4000.00"),
        annuity_tax=D("190.00"),
        annuity_after_tax=D("3810.00"),
        total=D("9310.00"),
        entitled=True,
    )


FIFTEEN = D("15")


def _short_career(months: int, min_years: Decimal = FIFTEEN) -> NewMethodBenefit:
    return new_method(
        c=D("10000"),
        z=D("1.0"),
        years=years_of(months),
        account_balance=D("13900"),
        payout_months=D("139"),
        annuity_balance=D("0"),
        tax_brackets=SEED_TAX_BRACKETS,
        z_deemed=D("1.0"),
        years_deemed=D("5"),
        transition_coef=D("0.012"),
        min_years=min_years,
    )


def test_entitlement_needs_minimum_years() -> None:
    # 14 y 11 m < 15 (视同 years included): no basic or transitional pension; the account amount
    # 13,900 / 139 = 100 stays.
    short = _short_career(179)
    assert (short.entitled, short.basic, short.transitional, short.account) == (
        False,
        D("0.00"),
        D("0.00"),
        D("100.00"),
    )
    assert short.total == D("100.00")
    # exactly 15 years: basic (10,000 + 10,000) / 2 × 15 × 1 % = 1,500; transitional 10,000 × 5 × 1.2 % = 600.
    full = _short_career(180)
    assert (full.entitled, full.basic, full.transitional) == (True, D("1500.00"), D("600.00"))
    # the minimum is a parameter (it rises from 2030, DOMAIN §1.1)
    assert not _short_career(180, min_years=D("15.5")).entitled


def test_deemed_years_cannot_exceed_total() -> None:
    with pytest.raises(ValueError, match="deemed"):
        new_method(
            c=D("1"),
            z=D("1"),
            years=D("5"),
            account_balance=D("0"),
            payout_months=D("139"),
            annuity_balance=D("0"),
            tax_brackets=SEED_TAX_BRACKETS,
            years_deemed=D("6"),
        )
