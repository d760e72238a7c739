"""A region's dated parameters as plain values (no database).

The row types mirror the core parameter tables (core/schema.sql: ya_rate, ya_wage, ya_base_bound,
ya_interest, ya_payout_months, ya_late_fee, ya_tax_bracket, ya_transition_share, ya_param). Every
number that changes over time is looked up here by period or date, never hard-coded (DOMAIN.md
preface).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Literal, Protocol, TypeVar

from hub.rules.contributions import Contribution, Rates, annuity_unit_share_real, clamp_base, contribution
from hub.rules.period import Period
from hub.rules.tax import TaxBracket

Payer = Literal["UNIT", "PERSON"]
WageKind = Literal["ONPOST", "ALL", "BENEFIT"]
WAGE_KINDS: frozenset[str] = frozenset({"ONPOST", "ALL", "BENEFIT"})

# ya_param code naming the configurable 险种 code of 职业年金 (DOMAIN.md §2.3: no national code).
ANNUITY_AAE140 = "ANNUITY_AAE140"
BASIC_PENSION_AAE140 = "120"  # 机关事业单位养老保险 (a national code; the 职业年金 code is a parameter)


class ParameterMissing(Exception):
    """A parameter needed for a computation is not configured for the region."""


def _check_period_range(from_period: int, to_period: int | None) -> None:
    first = Period.parse(from_period)
    if to_period is not None and Period.parse(to_period) < first:
        raise ValueError(f"to_period {to_period} is before from_period {from_period}")


def _covers(from_period: int, to_period: int | None, period: Period) -> bool:
    return from_period <= int(period) and (to_period is None or int(period) <= to_period)


@dataclass(frozen=True, slots=True)
class RateRow:
    """ya_rate: one payer's rate of one 险种 over [from_period, to_period] (None = open)."""

    aae140: str
    payer: Payer
    from_period: int
    to_period: int | None
    rate: Decimal
    account_rate: Decimal = Decimal(0)
    source: str = ""

    def __post_init__(self) -> None:
        if self.payer not in ("UNIT", "PERSON"):
            raise ValueError(f"payer must be UNIT or PERSON, got {self.payer!r}")
        _check_period_range(self.from_period, self.to_period)


@dataclass(frozen=True, slots=True)
class WageRow:
    """ya_wage: a monthly average wage of a year (ONPOST 在岗, ALL 全口径, BENEFIT 计发基数)."""

    year: int
    kind: WageKind
    monthly: Decimal
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in WAGE_KINDS:
            raise ValueError(f"wage kind must be one of {sorted(WAGE_KINDS)}, got {self.kind!r}")


@dataclass(frozen=True, slots=True)
class BoundRow:
    """ya_base_bound: base bound ratios and the wage series they apply to (DOMAIN.md §1.3)."""

    from_period: int
    to_period: int | None
    lower_ratio: Decimal
    upper_ratio: Decimal
    wage_kind: Literal["ONPOST", "ALL"]
    source: str = ""

    def __post_init__(self) -> None:
        if self.wage_kind not in ("ONPOST", "ALL"):
            raise ValueError(f"bound wage kind must be ONPOST or ALL, got {self.wage_kind!r}")
        _check_period_range(self.from_period, self.to_period)


@dataclass(frozen=True, slots=True)
class InterestRow:
    """ya_interest: the 记账利率 of a year (DOMAIN.md §1.4)."""

    year: int
    rate: Decimal
    source: str = ""


@dataclass(frozen=True, slots=True)
class PayoutRow:
    """ya_payout_months: 计发月数 at a whole age (DOMAIN.md §1.5)."""

    age: int
    months: Decimal


@dataclass(frozen=True, slots=True)
class LateFeeRow:
    """ya_late_fee: daily 滞纳金 rate from a date on (DOMAIN.md §1.9)."""

    valid_from: date
    daily_rate: Decimal
    source: str = ""


@dataclass(frozen=True, slots=True)
class TaxBracketRow:
    """ya_tax_bracket: one bracket of the table valid from a date on."""

    valid_from: date
    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    quick_deduction: Decimal
    source: str = ""


@dataclass(frozen=True, slots=True)
class TransitionRow:
    """ya_transition_share: 增发比例 for retirements in [from_date, to_date] (DOMAIN.md §1.7)."""

    from_date: date
    to_date: date
    share: Decimal
    source: str = ""


@dataclass(frozen=True, slots=True)
class ParamRow:
    """ya_param: a scalar parameter (TRANSITION_COEF, INTEREST_METHOD, MIN_YEARS, ...) from a date."""

    code: str
    valid_from: date
    value: str
    source: str = ""


class _Dated(Protocol):
    @property
    def valid_from(self) -> date: ...


_D = TypeVar("_D", bound=_Dated)


def _latest(rows: Iterable[_D], on: date) -> _D | None:
    """The row in force on ``on``: the one with the latest valid_from not after it."""
    current: _D | None = None
    for row in rows:
        if row.valid_from <= on and (current is None or row.valid_from > current.valid_from):
            current = row
    return current


@dataclass(frozen=True, slots=True)
class RegionParams:
    """All dated parameters of one 统筹区; lookups raise ``ParameterMissing`` when nothing applies."""

    region: str
    rate_rows: tuple[RateRow, ...] = ()
    wage_rows: tuple[WageRow, ...] = ()
    bound_rows: tuple[BoundRow, ...] = ()
    interest_rows: tuple[InterestRow, ...] = ()
    payout_rows: tuple[PayoutRow, ...] = ()
    late_fee_rows: tuple[LateFeeRow, ...] = ()
    tax_rows: tuple[TaxBracketRow, ...] = ()
    transition_rows: tuple[TransitionRow, ...] = ()
    param_rows: tuple[ParamRow, ...] = ()

    def __post_init__(self) -> None:
        # Overlapping ranges would make a lookup depend on row order; refuse them up front.
        keys = {(r.aae140, r.payer) for r in self.rate_rows}
        for aae140, payer in keys:
            rows = [r for r in self.rate_rows if (r.aae140, r.payer) == (aae140, payer)]
            _check_disjoint([(r.from_period, r.to_period) for r in rows], f"{payer} rate of {aae140}")
        _check_disjoint([(r.from_period, r.to_period) for r in self.bound_rows], "base bounds")

    def _missing(self, what: str) -> ParameterMissing:
        return ParameterMissing(f"region {self.region}: no {what}")

    def _rate_row(self, aae140: str, payer: Payer, period: Period) -> RateRow:
        for row in self.rate_rows:
            if row.aae140 == aae140 and row.payer == payer and _covers(row.from_period, row.to_period, period):
                return row
        raise self._missing(f"{payer} rate of 险种 {aae140} covering {period}")

    def rates(self, aae140: str, period: Period) -> Rates:
        """The unit and person rates of a 险种 in force in ``period``."""
        unit = self._rate_row(aae140, "UNIT", period)
        person = self._rate_row(aae140, "PERSON", period)
        return Rates(unit=unit.rate, person=person.rate, account=unit.account_rate + person.account_rate)

    def wage(self, year: int, kind: str) -> Decimal:
        """The monthly average wage of ``kind`` (ONPOST, ALL, BENEFIT) describing ``year``."""
        if kind not in WAGE_KINDS:
            raise ValueError(f"wage kind must be one of {sorted(WAGE_KINDS)}, got {kind!r}")
        for row in self.wage_rows:
            if row.year == year and row.kind == kind:
                return row.monthly
        raise self._missing(f"{kind} average wage for {year}")

    def bounds(self, period: Period) -> tuple[Decimal, Decimal, str]:
        """(lower_ratio, upper_ratio, wage_kind) of the base bounds in force in ``period``."""
        for row in self.bound_rows:
            if _covers(row.from_period, row.to_period, period):
                return row.lower_ratio, row.upper_ratio, row.wage_kind
        raise self._missing(f"base bounds covering {period}")

    def bound_wage(self, period: Period) -> Decimal:
        """The reference wage for the bounds: the bound's wage series for the year before (§1.3)."""
        _, _, kind = self.bounds(period)
        return self.wage(period.year - 1, kind)

    def interest(self, year: int) -> Decimal:
        """The 记账利率 of ``year``."""
        for row in self.interest_rows:
            if row.year == year:
                return row.rate
        raise self._missing(f"记账利率 for {year}")

    @property
    def payout_table(self) -> Mapping[int, Decimal]:
        """计发月数 by whole age."""
        if not self.payout_rows:
            raise self._missing("计发月数 table")
        return {row.age: row.months for row in self.payout_rows}

    def tax_brackets(self, on: date) -> tuple[TaxBracket, ...]:
        """The annuity tax table in force on ``on``, by ascending lower bound."""
        current = _latest(self.tax_rows, on)
        if current is None:
            raise self._missing(f"annuity tax table in force on {on.isoformat()}")
        rows = sorted((r for r in self.tax_rows if r.valid_from == current.valid_from), key=lambda r: r.lower)
        return tuple(TaxBracket(r.lower, r.upper, r.rate, r.quick_deduction) for r in rows)

    @property
    def transition_table(self) -> tuple[tuple[date, date, Decimal], ...]:
        """(from_date, to_date, share) rows for ``transition.transition_share``."""
        return tuple(sorted((r.from_date, r.to_date, r.share) for r in self.transition_rows))

    def late_fee_rate(self, on: date) -> Decimal:
        """The daily 滞纳金 rate in force on ``on``."""
        current = _latest(self.late_fee_rows, on)
        if current is None:
            raise self._missing(f"late-fee rate in force on {on.isoformat()}")
        return current.daily_rate

    def param(self, code: str, on: date) -> str:
        """The value of scalar parameter ``code`` in force on ``on``."""
        current = _latest((r for r in self.param_rows if r.code == code), on)
        if current is None:
            raise self._missing(f"parameter {code} in force on {on.isoformat()}")
        return current.value


def _check_disjoint(ranges: list[tuple[int, int | None]], what: str) -> None:
    ordered = sorted(ranges, key=lambda r: r[0])
    for (_, prev_to), (next_from, _) in pairwise(ordered):
        if prev_to is None or prev_to >= next_from:
            raise ValueError(f"overlapping {what} ranges starting {next_from}")


def plan_month(
    params: RegionParams, aae140: str, period: Period, declared_wage: Decimal, *, funding: str
) -> Contribution:
    """One person's contribution for one month and 险种.

    The declared wage is clamped with the bound wage of the period (DOMAIN.md §1.3), then the
    period's rates apply. For the 职业年金 code configured in ``ANNUITY_AAE140`` the unit share is a
    虚账 entry when the unit is 财政全额供款 (§1.8); ``funding`` is checked for every 险种.

    Raises ``ParameterMissing`` when a bound, wage, rate or the annuity code is not configured.
    """
    lower, upper, _ = params.bounds(period)
    base = clamp_base(declared_wage, params.bound_wage(period), lower, upper)
    real = annuity_unit_share_real(funding)
    if aae140 != params.param(ANNUITY_AAE140, period.first_day):
        real = True  # the basic-pension unit share is always collected in cash
    return contribution(base, params.rates(aae140, period), unit_share_real=real)
