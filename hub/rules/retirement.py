"""Statutory retirement age after the 2025 reform (DOMAIN.md §1.1, NPC decision of 2024-09) [T].

Men (original age 60): birth cohorts from 1965-01 are delayed 1 month per 4 months of cohort, up to
63. Women with original age 55: from 1970-01, 1 month per 4, up to 58. Women with original age 50
(e.g. 工勤 posts): from 1975-01, 1 month per 2, up to 55.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hub.rules.period import Period

SOURCE = "全国人大常委会关于实施渐进式延迟法定退休年龄的决定 (2024-09, 施行 2025-01-01) [T]"


@dataclass(frozen=True, slots=True)
class Cohort:
    """How one group's age moves: from ``first_cohort`` (YYYY, January) one month per ``step`` months."""

    original_years: int
    first_cohort_year: int
    step_months: int
    max_delay_months: int


MEN = Cohort(60, 1965, 4, 36)
WOMEN_55 = Cohort(55, 1970, 4, 36)
WOMEN_50 = Cohort(50, 1975, 2, 60)


def cohort_of(sex: str, *, female_original_age: int = 55) -> Cohort:
    """The reform rule of a person: sex "1" is male (GB 11643 sex digit odd), "2" female."""
    if sex == "1":
        return MEN
    if sex != "2":
        raise ValueError(f"sex must be '1' or '2', got {sex!r}")
    if female_original_age == 55:
        return WOMEN_55
    if female_original_age == 50:
        return WOMEN_50
    raise ValueError(f"original retirement age of women is 50 or 55, got {female_original_age}")


def age_months(birth: date, sex: str, *, female_original_age: int = 55) -> int:
    """The statutory retirement age in months for a person born on ``birth``."""
    rule = cohort_of(sex, female_original_age=female_original_age)
    since = (birth.year - rule.first_cohort_year) * 12 + birth.month - 1
    delay = min(rule.max_delay_months, since // rule.step_months + 1) if since >= 0 else 0
    return rule.original_years * 12 + delay


def retirement_date(birth: date, sex: str, *, female_original_age: int = 55) -> date:
    """离退休日期: the first day of the month after the one in which the statutory age is reached.

    (The month of birth plus the age in months; a person born in January 1965 at 60 y 1 m retires
    from 2025-02-01.)
    """
    return (Period.of(birth) + age_months(birth, sex, female_original_age=female_original_age)).first_day
