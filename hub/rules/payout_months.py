"""计发月数 by retirement age (DOMAIN.md §1.5)."""

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

_TENTH = Decimal("0.1")

SEED_PAYOUT_MONTHS_SOURCE = "国发〔2005〕38号附件 个人账户养老金计发月数表 (国发〔2015〕2号 reuses it)"

# Seed data for core.ya_payout_months; the rule below takes the table as a parameter.
# DOMAIN.md §1.5: 47 → 207 (some public code wrongly has 208).
SEED_PAYOUT_MONTHS: dict[int, Decimal] = {
    age: Decimal(months)
    for age, months in zip(
        range(40, 71),
        (233, 230, 226, 223, 220, 216, 212, 207, 204, 199, 195, 190, 185, 180, 175, 170,
         164, 158, 152, 145, 139, 132, 125, 117, 109, 101, 93, 84, 75, 65, 56),
        strict=True,
    )
}  # fmt: skip


def payout_months(table: Mapping[int, Decimal], years: int, months: int = 0) -> Decimal:
    """计发月数 at an age of ``years`` and ``months``, to one decimal.

    A whole age reads the table. From 2025 (delayed retirement) a non-whole age is interpolated
    linearly per month between age and age + 1 and rounded half up to one decimal, e.g. 60 y 1 m
    = 139 − 7/12 = 138.4 (DOMAIN.md §1.5).
    """
    if not 0 <= months <= 11:
        raise ValueError(f"months must be 0..11, got {months}")
    if years not in table or (months and years + 1 not in table):
        raise ValueError(f"age {years} y {months} m is outside the 计发月数 table")
    low = table[years]
    if months == 0:
        return low.quantize(_TENTH, rounding=ROUND_HALF_UP)
    high = table[years + 1]
    return (low + (high - low) * months / 12).quantize(_TENTH, rounding=ROUND_HALF_UP)
