"""Yearly account crediting (DOMAIN.md §1.4). Figures computed by hand."""

from decimal import Decimal

import pytest

from hub.rules.interest import InterestMethod, credit_year

D = Decimal


def test_annual_1083() -> None:
    # 劳办发〔1997〕116号, r = 3.97 %:
    #   10,000 × 1.0397 = 10,397
    #   2,400 × (1 + 0.0397 × 1.083 / 2) = 2,400 × 1.02149755 = 2,451.59412
    #   closing 12,848.59412 → 12,848.59; interest 12,848.59 − 10,000 − 2,400 = 448.59
    assert credit_year(D("10000"), D("2400"), D("0.0397"), InterestMethod.ANNUAL_1083) == (
        D("448.59"),
        D("12848.59"),
    )


def test_prior_only() -> None:
    # 10,000 × 1.0397 + 2,400 = 12,797.00; interest 397.00.
    assert credit_year(D("10000"), D("2400"), D("0.0397"), InterestMethod.PRIOR_ONLY) == (
        D("397.00"),
        D("12797.00"),
    )


def test_only_the_closing_is_rounded() -> None:
    # opening 0.01 at 40 %: 0.014 → closing 0.01, interest 0.00; credited 0.01 under 1083:
    # 0.01 × (1 + 0.4 × 0.5415) = 0.012166 → the exact sum 0.026166 rounds once to 0.03.
    assert credit_year(D("0.01"), D("0.01"), D("0.4"), InterestMethod.ANNUAL_1083) == (D("0.01"), D("0.03"))


def test_method_from_parameter_text() -> None:
    assert credit_year(D("100"), D("0"), D("0.05"), "PRIOR_ONLY") == (D("5.00"), D("105.00"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="InterestMethod"):
        credit_year(D("100"), D("0"), D("0.05"), "MONTHLY")  # type: ignore[arg-type]


def test_zero_rate_adds_credits_only() -> None:
    for method in InterestMethod:
        assert credit_year(D("5000.55"), D("1200.45"), D("0"), method) == (D("0.00"), D("6201.00"))
