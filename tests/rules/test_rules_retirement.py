"""Retirement ages after the 2025 reform, worked by hand from DOMAIN.md §1.1."""

from __future__ import annotations

from datetime import date

import pytest

from hub.rules.retirement import age_months, retirement_date


@pytest.mark.parametrize(
    ("birth", "sex", "original", "months"),
    [
        (date(1964, 12, 31), "1", 55, 720),  # before the first cohort: 60 y = 720
        (date(1965, 1, 15), "1", 55, 721),  # cohort 1965-01..04: +1 → 721
        (date(1965, 5, 15), "1", 55, 722),  # 4 months later: +2
        (date(1966, 3, 1), "1", 55, 724),  # 14 months after 1965-01: 14 // 4 + 1 = 4 → 724
        (date(1990, 1, 1), "1", 55, 756),  # capped at 63 y = 756
        (date(1969, 12, 1), "2", 55, 660),  # before 1970-01: 55 y
        (date(1970, 1, 1), "2", 55, 661),
        (date(1975, 3, 1), "2", 50, 602),  # 2 months after 1975-01, 1 per 2: 2 // 2 + 1 = 2 → 50 y 2 m
        (date(1995, 1, 1), "2", 50, 660),  # capped at 55 y
    ],
)
def test_ages(birth: date, sex: str, original: int, months: int) -> None:
    assert age_months(birth, sex, female_original_age=original) == months


def test_retirement_date_is_birth_month_plus_age() -> None:
    assert retirement_date(date(1965, 1, 15), "1") == date(2025, 2, 1)  # 1965-01 + 721 months


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="sex"):
        age_months(date(1970, 1, 1), "3")
    with pytest.raises(ValueError, match="50 or 55"):
        age_months(date(1970, 1, 1), "2", female_original_age=60)
