"""``Period``: a 费款所属期 as a YYYYMM value type (CONVENTIONS.md: periods are not strings)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import overload

MIN_YEAR = 1900
MAX_YEAR = 2199

_TEXT = re.compile(r"(\d{4})-?(\d{2})")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A calendar month; ordering is by (year, month), the same as by ``int(p)``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise ValueError(f"period year {self.year} is outside {MIN_YEAR}..{MAX_YEAR}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"period month {self.month} is outside 1..12")

    @classmethod
    def parse(cls, value: int | str) -> Period:
        """Parse 202401, "202401" or "2024-01"."""
        if isinstance(value, bool):
            raise ValueError(f"not a period: {value!r}")
        if isinstance(value, int):
            if not 100 <= value <= 999_999:
                raise ValueError(f"not a YYYYMM period: {value!r}")
            return cls(value // 100, value % 100)
        if isinstance(value, str):
            m = _TEXT.fullmatch(value.strip())
            if m is None:
                raise ValueError(f"not a YYYYMM or YYYY-MM period: {value!r}")
            return cls(int(m.group(1)), int(m.group(2)))
        raise ValueError(f"not a period: {value!r}")

    @classmethod
    def of(cls, day: date) -> Period:
        """The period a date falls in."""
        return cls(day.year, day.month)

    @staticmethod
    def range(first: Period, last: Period) -> Iterator[Period]:
        """Periods from ``first`` to ``last`` inclusive; empty when ``last < first``."""
        for n in range(last - first + 1):
            yield first + n

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def __int__(self) -> int:
        return self.year * 100 + self.month

    def __str__(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    def _index(self) -> int:
        return self.year * 12 + self.month - 1

    def __add__(self, months: int) -> Period:
        if isinstance(months, bool) or not isinstance(months, int):
            return NotImplemented
        year, month0 = divmod(self._index() + months, 12)
        return Period(year, month0 + 1)

    __radd__ = __add__

    @overload
    def __sub__(self, other: int) -> Period: ...
    @overload
    def __sub__(self, other: Period) -> int: ...
    def __sub__(self, other: int | Period) -> Period | int:
        if isinstance(other, Period):
            return self._index() - other._index()
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return self + (-other)
