"""Contribution base and amounts (DOMAIN.md §1.2, §1.3, §1.8, §1.9). Figures computed by hand."""

from decimal import Decimal

import pytest

from hub.rules.contributions import (
    Rates,
    annuity_unit_share_real,
    base_bounds,
    clamp_base,
    contribution,
    late_fee,
)

D = Decimal
BASIC = Rates(unit=D("0.20"), person=D("0.08"), account=D("0.08"))  # 单位缴20%个人8%划8%
ANNUITY = Rates(unit=D("0.08"), person=D("0.04"), account=D("0.12"))  # 单位8%个人4%, both credited


def test_sample_screen_basic_pension() -> None:
    # DOMAIN preface sample screen: base 10,000 → unit 10,000 × 20 % = 2,000; personal × 8 % = 800,
    # and the whole personal 8 % goes to the account.
    c = contribution(D("10000"), BASIC)
    assert (c.base, c.unit, c.person, c.to_account) == (D("10000.00"), D("2000.00"), D("800.00"), D("800.00"))
    assert c.real_account


def test_sample_screen_annuity() -> None:
    # 职业年金: unit 10,000 × 8 % = 800, personal × 4 % = 400, account credit 800 + 400 = 1,200.
    c = contribution(D("10000"), ANNUITY, unit_share_real=False)
    assert (c.unit, c.person, c.to_account) == (D("800.00"), D("400.00"), D("1200.00"))
    assert not c.real_account


def test_annuity_credit_equals_collected_amounts_to_the_fen() -> None:
    # base 10,000.05: unit 800.004 → 800.00, personal 400.002 → 400.00, so the credit is 1,200.00
    # (rounding base × 12 % = 1,200.006 in one step would give 1,200.01).
    c = contribution(D("10000.05"), ANNUITY)
    assert (c.unit, c.person, c.to_account) == (D("800.00"), D("400.00"), D("1200.00"))


def test_unit_rate_16_percent() -> None:
    # 国办发〔2019〕13号 cut: 7,654.32 × 16 % = 1,224.6912 → 1,224.69; × 8 % = 612.3456 → 612.35.
    c = contribution(D("7654.32"), Rates(D("0.16"), D("0.08"), D("0.08")))
    assert (c.unit, c.person, c.to_account) == (D("1224.69"), D("612.35"), D("612.35"))


def test_base_bounds() -> None:
    # average 8,000: 60 % = 4,800, 300 % = 24,000.
    assert base_bounds(D("8000"), D("0.6"), D("3")) == (D("4800.00"), D("24000.00"))
    # average 7,777.77: 4,666.662 → 4,666.66; 23,333.31.
    assert base_bounds(D("7777.77"), D("0.6"), D("3")) == (D("4666.66"), D("23333.31"))


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("3000", "4800.00"),  # below 60 % of 8,000 → 4,800
        ("4800", "4800.00"),  # exactly at the lower bound
        ("10000", "10000.00"),  # inside
        ("24000", "24000.00"),  # exactly at the upper bound
        ("30000", "24000.00"),  # above 300 % → 24,000
        ("0", "4800.00"),
    ],
)
def test_clamp_base(declared: str, expected: str) -> None:
    assert clamp_base(D(declared), D("8000"), D("0.6"), D("3")) == D(expected)


def test_clamp_base_uses_the_given_ratios() -> None:
    # A province with 0.7 / 2.5 of 10,000: bounds 7,000 and 25,000.
    assert clamp_base(D("5000"), D("10000"), D("0.7"), D("2.5")) == D("7000.00")
    assert clamp_base(D("26000"), D("10000"), D("0.7"), D("2.5")) == D("25000.00")


def test_annuity_unit_share_real_by_funding() -> None:
    # DOMAIN §1.8, Art. 6: 财政全额供款 (1) keeps the unit share as a book entry.
    assert annuity_unit_share_real("1") is False
    assert annuity_unit_share_real("2") is True
    assert annuity_unit_share_real("3") is True
    with pytest.raises(ValueError, match="财政供款"):
        annuity_unit_share_real("4")


def test_rates_refuse_account_above_collected() -> None:
    with pytest.raises(ValueError, match="account"):
        Rates(unit=D("0.08"), person=D("0.04"), account=D("0.13"))


def test_negative_base_is_refused() -> None:
    with pytest.raises(ValueError, match="base"):
        contribution(D("-1"), BASIC)


def test_late_fee() -> None:
    # 社会保险法 Art. 86: 10,000 × 0.0005 = 5 per day, × 30 days = 150.
    assert late_fee(D("10000"), 30) == D("150.00")
    # legacy 0.002 as a parameter: 2,800 × 0.002 = 5.6 per day, × 10 = 56.
    assert late_fee(D("2800"), 10, D("0.002")) == D("56.00")
    # 333.33 × 0.0005 × 7 = 1.166655 → 1.17.
    assert late_fee(D("333.33"), 7) == D("1.17")
    assert late_fee(D("10000"), 0) == D("0.00")
    with pytest.raises(ValueError, match="negative"):
        late_fee(D("100"), -1)
