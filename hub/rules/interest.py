"""Yearly crediting of an individual account (DOMAIN.md §1.4)."""

from decimal import Decimal
from enum import StrEnum

from hub.rules.money import to_fen

# 劳办发〔1997〕116号: contributions of the year earn interest for 1.083 × 1/2 of a year on average.
_MID_YEAR_FACTOR = Decimal("1.083") / 2


class InterestMethod(StrEnum):
    """Provinces differ in how the contributions of the year earn interest, so it is configurable."""

    ANNUAL_1083 = "ANNUAL_1083"  # prior × (1 + r) + credited × (1 + r × 1.083 × 1/2)
    PRIOR_ONLY = "PRIOR_ONLY"  # prior × (1 + r) + credited, no interest on this year's credits


def credit_year(opening: Decimal, credited: Decimal, rate: Decimal, method: InterestMethod) -> tuple[Decimal, Decimal]:
    """Return (interest, closing) for one year; only the closing balance is rounded to the fen."""
    # Coerce so a method code read from ya_param ("ANNUAL_1083") works and an unknown one fails.
    method = InterestMethod(method)
    if method is InterestMethod.ANNUAL_1083:
        exact = opening * (1 + rate) + credited * (1 + rate * _MID_YEAR_FACTOR)
    else:
        exact = opening * (1 + rate) + credited
    closing = to_fen(exact)
    return closing - opening - credited, closing
