"""Period value type (CONVENTIONS.md: periods are YYYYMM value types)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.period import Period

periods = st.builds(Period, st.integers(min_value=1900, max_value=2199), st.integers(min_value=1, max_value=12))
mid_periods = st.builds(Period, st.integers(min_value=1950, max_value=2150), st.integers(min_value=1, max_value=12))


@pytest.mark.parametrize("raw", [202401, "202401", "2024-01", " 2024-01 "])
def test_parse_accepts_int_and_text(raw: int | str) -> None:
    assert Period.parse(raw) == Period(2024, 1)


@pytest.mark.parametrize("raw", [202413, 202400, "2024-1", "2024/01", "abcdef", 189912, 220001, "", 2024])
def test_parse_rejects_bad_input(raw: int | str) -> None:
    with pytest.raises(ValueError, match="period"):
        Period.parse(raw)


def test_parse_rejects_bool() -> None:
    with pytest.raises(ValueError, match="period"):
        Period.parse(True)


def test_conversions_and_days() -> None:
    p = Period.of(date(2024, 2, 29))
    assert (p.year, p.month) == (2024, 2)
    assert int(p) == 202402
    assert str(p) == "202402"
    assert p.first_day == date(2024, 2, 1)
    assert p.last_day == date(2024, 2, 29)  # leap year
    assert Period(2023, 2).last_day == date(2023, 2, 28)
    assert Period(2024, 12).last_day == date(2024, 12, 31)


def test_month_arithmetic_examples() -> None:
    assert Period(2024, 12) + 1 == Period(2025, 1)
    assert Period(2024, 1) - 13 == Period(2022, 12)
    assert 2 + Period(2024, 11) == Period(2025, 1)
    assert Period(2025, 3) - Period(2014, 10) == 125  # 10 years 5 months
    with pytest.raises(ValueError, match="year"):
        Period(2199, 12) + 1


def test_range_is_inclusive() -> None:
    assert [int(p) for p in Period.range(Period(2024, 11), Period(2025, 2))] == [
        202411,
        202412,
        202501,
        202502,
    ]
    assert list(Period.range(Period(2025, 2), Period(2024, 11))) == []


@given(mid_periods, st.integers(min_value=-500, max_value=500))
def test_add_then_subtract_gives_back_n(p: Period, n: int) -> None:
    assert (p + n) - p == n
    assert (p + n) - n == p


@given(mid_periods, st.integers(min_value=0, max_value=300))
def test_range_length(p: Period, n: int) -> None:
    items = list(Period.range(p, p + n))
    assert len(items) == n + 1
    assert items[0] == p
    assert items[-1] == p + n


@given(periods)
def test_parse_round_trips(p: Period) -> None:
    assert Period.parse(str(p)) == p
    assert Period.parse(int(p)) == p


@given(periods, periods)
def test_ordering_matches_int(a: Period, b: Period) -> None:
    assert (a < b) == (int(a) < int(b))
    assert (a == b) == (int(a) == int(b))
    assert (a - b > 0) == (a > b)
