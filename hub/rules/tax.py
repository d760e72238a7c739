"""Tax on monthly 职业年金 benefits (DOMAIN.md preface and §1.8, 财税〔2018〕164号)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.rules.money import to_fen


@dataclass(frozen=True, slots=True)
class TaxBracket:
    """One bracket: applies to amounts in (lower, upper]; ``upper`` None means no bound."""

    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    quick_deduction: Decimal

    def covers(self, amount: Decimal) -> bool:
        return amount > self.lower and (self.upper is None or amount <= self.upper)


SEED_TAX_BRACKETS_SOURCE = "按月换算后的综合所得税率表, 财税〔2018〕164号 (DOMAIN.md preface) [G]"
SEED_TAX_BRACKETS_VALID_FROM = date(2019, 1, 1)

# Seed data for core.ya_tax_bracket; the rule takes the brackets as a parameter.
SEED_TAX_BRACKETS: tuple[TaxBracket, ...] = tuple(
    TaxBracket(Decimal(lo), None if hi is None else Decimal(hi), Decimal(rate), Decimal(qd))
    for lo, hi, rate, qd in (
        ("0", "3000", "0.03", "0"),
        ("3000", "12000", "0.10", "210"),
        ("12000", "25000", "0.20", "1410"),
        ("25000", "35000", "0.25", "2660"),
        ("35000", "55000", "0.30", "4410"),
        ("55000", "80000", "0.35", "7160"),
        ("80000", None, "0.45", "15160"),
    )
)


def monthly_annuity_tax(amount: Decimal, brackets: Sequence[TaxBracket]) -> Decimal:
    """Tax on one month's annuity benefit: amount × rate − quick deduction, to the fen, ≥ 0.

    The annuity is taxed on its own, not added to 综合所得 (DOMAIN.md §1.8).
    """
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    if amount == 0:
        return to_fen(Decimal(0))
    for bracket in brackets:
        if bracket.covers(amount):
            return max(to_fen(amount * bracket.rate - bracket.quick_deduction), to_fen(Decimal(0)))
    raise ValueError(f"no tax bracket covers {amount}")
