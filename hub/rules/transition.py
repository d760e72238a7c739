"""The 10-year transition 新老办法对比 (DOMAIN.md §1.7 and preface, 人社部发〔2015〕28号)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.rules.money import to_fen

SEED_TRANSITION_SOURCE = "人社部发〔2015〕28号 过渡期 增发比例 (DOMAIN.md §1.7) [G]"

# Seed data for core.ya_transition_share: (from_date, to_date inclusive, share of the excess).
SEED_TRANSITION_SHARES: tuple[tuple[date, date, Decimal], ...] = (
    (date(2014, 10, 1), date(2015, 12, 31), Decimal("0.1")),
    *((date(y, 1, 1), date(y, 12, 31), Decimal(y - 2014) / 10) for y in range(2016, 2024)),
    (date(2024, 1, 1), date(2024, 9, 30), Decimal(1)),
)


def transition_share(retire_date: date, table: Sequence[tuple[date, date, Decimal]]) -> Decimal:
    """增发比例 for a retirement date.

    After the end of the table (2024-09-30 in the seed) the result is 1, meaning the new method
    alone: callers then pay the new-method amount and do not compare (no 保底). A date before the
    start of the table (the reform starts 2014-10-01) or in a gap raises ValueError.
    """
    if not table:
        raise ValueError("the transition table is empty")
    if retire_date > max(row[1] for row in table):
        return Decimal(1)
    for start, end, share in table:
        if start <= retire_date <= end:
            return share
    raise ValueError(f"retirement date {retire_date.isoformat()} is not covered by the transition table")


@dataclass(frozen=True, slots=True)
class Comparison:
    """补差 (``adjustment``, negative when only part of the excess is paid) and 核定养老金."""

    adjustment: Decimal
    approved: Decimal


def compare(new_total: Decimal, old_total: Decimal, share: Decimal) -> Comparison:
    """Compare new and old method totals per the source rule (DOMAIN.md preface).

    Old > new: 补差 = old − new, the person keeps the old amount (保底). Otherwise
    补差 = (old − new) × (1 − share): only ``share`` of the excess is paid (限高).
    ``new_total`` includes the 职业年金 monthly amount after tax.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be within [0, 1], got {share}")
    new, old = to_fen(new_total), to_fen(old_total)
    if old > new:
        return Comparison(adjustment=old - new, approved=old)
    adjustment = to_fen((old - new) * (1 - share))
    return Comparison(adjustment=adjustment, approved=new + adjustment)
