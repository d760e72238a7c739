"""计发月数 (DOMAIN.md §1.5). Figures computed by hand from the table."""

from decimal import Decimal
from itertools import pairwise

import pytest

from hub.rules.payout_months import SEED_PAYOUT_MONTHS, payout_months

D = Decimal


@pytest.mark.parametrize(
    ("years", "months", "expected"),
    [
        (60, 1, "138.4"),  # 139 + (132 − 139) × 1/12 = 138.4166… → 138.4
        (50, 1, "194.6"),  # 195 + (190 − 195) × 1/12 = 194.5833… → 194.6
        (47, 0, "207"),  # DOMAIN: 207, not 208
        (60, 0, "139"),
        (55, 0, "170"),
        (60, 6, "135.5"),  # 139 − 7 × 6/12 = 135.5
        (63, 4, "114.3"),  # 117 − 8 × 4/12 = 114.333… → 114.3
        (69, 11, "56.8"),  # 65 − 9 × 11/12 = 56.75 → 56.8 (half up)
        (70, 0, "56"),
        (40, 0, "233"),
    ],
)
def test_payout_months(years: int, months: int, expected: str) -> None:
    assert payout_months(SEED_PAYOUT_MONTHS, years, months) == D(expected)


@pytest.mark.parametrize(("years", "months"), [(39, 0), (70, 1), (71, 0), (60, 12), (60, -1)])
def test_outside_the_table(years: int, months: int) -> None:
    with pytest.raises(ValueError, match=r"months|table"):
        payout_months(SEED_PAYOUT_MONTHS, years, months)


def test_table_is_a_parameter() -> None:
    table = {60: D("140"), 61: D("128")}
    # 140 − 12 × 3/12 = 137.0
    assert payout_months(table, 60, 3) == D("137.0")


def test_seed_table_shape() -> None:
    assert sorted(SEED_PAYOUT_MONTHS) == list(range(40, 71))
    values = [SEED_PAYOUT_MONTHS[a] for a in range(40, 71)]
    assert all(a > b for a, b in pairwise(values))
