"""Annuity benefit tax (DOMAIN.md preface: monthly converted table). Figures computed by hand."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.tax import SEED_TAX_BRACKETS, TaxBracket, monthly_annuity_tax

D = Decimal


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", "0.00"),
        ("2500", "75.00"),  # 2,500 × 3 %
        ("3000", "90.00"),  # 3,000 × 3 % (upper bound inclusive)
        ("3000.01", "90.00"),  # 3,000.01 × 10 % − 210 = 90.001
        ("12000", "990.00"),  # 12,000 × 10 % − 210
        ("12000.01", "990.00"),  # 12,000.01 × 20 % − 1,410 = 990.002
        ("25000", "3590.00"),  # 25,000 × 20 % − 1,410
        ("80000", "20840.00"),  # 80,000 × 35 % − 7,160
        ("100000", "29840.00"),  # 100,000 × 45 % − 15,160
    ],
)
def test_seed_table(amount: str, expected: str) -> None:
    assert monthly_annuity_tax(D(amount), SEED_TAX_BRACKETS) == D(expected)


def test_never_negative() -> None:
    # a bracket whose deduction exceeds the tax at its low end: 100 × 10 % − 210 < 0 → 0.
    brackets = [TaxBracket(D("0"), None, D("0.10"), D("210"))]
    assert monthly_annuity_tax(D("100"), brackets) == D("0.00")


def test_uncovered_and_negative_amounts() -> None:
    with pytest.raises(ValueError, match="bracket"):
        monthly_annuity_tax(D("5000"), [TaxBracket(D("0"), D("3000"), D("0.03"), D("0"))])
    with pytest.raises(ValueError, match="negative"):
        monthly_annuity_tax(D("-1"), SEED_TAX_BRACKETS)


@given(
    st.decimals(min_value=0, max_value=200_000, places=2),
    st.decimals(min_value=0, max_value=200_000, places=2),
)
def test_tax_is_monotone(a: Decimal, b: Decimal) -> None:
    # The quick deductions make the table continuous, so more income never means less tax.
    lo, hi = sorted((a, b))
    assert monthly_annuity_tax(lo, SEED_TAX_BRACKETS) <= monthly_annuity_tax(hi, SEED_TAX_BRACKETS)
