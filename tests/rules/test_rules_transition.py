"""The 10-year transition (DOMAIN.md §1.7 and preface). Figures computed by hand."""

from datetime import date
from decimal import Decimal

import pytest

from hub.rules.transition import SEED_TRANSITION_SHARES, Comparison, compare, transition_share

D = Decimal


@pytest.mark.parametrize(
    ("day", "share"),
    [
        (date(2014, 10, 1), "0.1"),
        (date(2015, 12, 31), "0.1"),
        (date(2016, 1, 1), "0.2"),
        (date(2017, 6, 30), "0.3"),
        (date(2023, 12, 31), "0.9"),
        (date(2024, 1, 1), "1"),
        (date(2024, 9, 30), "1"),
        (date(2024, 10, 1), "1"),  # new method only
        (date(2030, 1, 1), "1"),
    ],
)
def test_transition_share(day: date, share: str) -> None:
    assert transition_share(day, SEED_TRANSITION_SHARES) == D(share)


def test_before_the_reform_is_an_error() -> None:
    with pytest.raises(ValueError, match="2014-09-30"):
        transition_share(date(2014, 9, 30), SEED_TRANSITION_SHARES)


def test_gap_in_table_is_an_error() -> None:
    table = [
        (date(2016, 1, 1), date(2016, 12, 31), D("0.2")),
        (date(2018, 1, 1), date(2018, 12, 31), D("0.4")),
    ]
    with pytest.raises(ValueError, match="not covered"):
        transition_share(date(2017, 5, 1), table)


def test_new_above_old_pays_only_the_share() -> None:
    # share 30 %: 补差 = (4,000 − 5,000) × (1 − 0.3) = −700; 核定 = 5,000 − 700 = 4,300
    # (= old 4,000 + 30 % of the 1,000 excess).
    assert compare(D("5000"), D("4000"), D("0.3")) == Comparison(D("-700.00"), D("4300.00"))


def test_old_above_new_keeps_old() -> None:
    # 保底: 补差 = 6,000 − 5,000 = 1,000; 核定 = 6,000.
    assert compare(D("5000"), D("6000"), D("0.3")) == Comparison(D("1000.00"), D("6000.00"))


def test_equal_and_rounding() -> None:
    assert compare(D("5000"), D("5000"), D("0.3")) == Comparison(D("0.00"), D("5000.00"))
    # (4,999.99 − 5,000) × 0.7 = −0.007 → −0.01 (half up, away from zero); 核定 4,999.99.
    assert compare(D("5000"), D("4999.99"), D("0.3")) == Comparison(D("-0.01"), D("4999.99"))
    # (1,000 − 1,333.33) × 0.9 = −299.997 → −300.00; 核定 1,033.33.
    assert compare(D("1333.33"), D("1000"), D("0.1")) == Comparison(D("-300.00"), D("1033.33"))


def test_share_out_of_range() -> None:
    with pytest.raises(ValueError, match="share"):
        compare(D("1"), D("1"), D("1.1"))
