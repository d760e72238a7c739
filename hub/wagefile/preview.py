"""Preview of a clean declaration: the clamped base and the monthly amounts per 险种.

For the period the new bases apply from, the base bounds are the bound ratios (60 % and 300 % in
the seed data) of the reference average wage of the year before (DOMAIN.md §1.3), both from the
region's dated parameters. Each declared wage is held inside the bounds (as ``clamp_base`` does,
with the bounds computed once per declaration) and every row that was raised or lowered is marked.
The unit and personal amounts of the basic pension (120) and of the 职业年金 (the 险种 code in the
``ANNUITY_AAE140`` parameter) are ``contribution`` of the rules at the period's rates, so each
amount is rounded to the fen exactly as the core computes a month of 征缴计划 (``plan_month``).
For a 财政全额供款 unit the annuity unit share is a 虚账 book entry: shown, but not part of what
the unit pays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from hub.rules.contributions import Contribution, Rates, annuity_unit_share_real, base_bounds, contribution
from hub.rules.money import to_fen
from hub.rules.params import ANNUITY_AAE140, BASIC_PENSION_AAE140, RegionParams
from hub.rules.period import Period
from hub.wagefile.model import DeclaredWage

# National 险种 code of 机关事业单位基本养老保险 (DOMAIN.md §2.3); not a policy number.

Clamp = Literal["lower", "upper"]


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One person: the declared wage, the base after the bounds, and each 险种's amounts."""

    row: int
    person_id: str
    name: str
    declared: Decimal
    base: Decimal
    clamp: Clamp | None
    pension: Contribution
    annuity: Contribution

    @property
    def clamp_text(self) -> str:
        if self.clamp == "lower":
            return "低于下限，按下限核定"
        if self.clamp == "upper":
            return "高于上限，按上限核定"
        return ""


@dataclass(frozen=True, slots=True)
class InsuranceTotal:
    """Monthly totals of one 险种; ``unit_book`` is the part of ``unit`` kept as a 虚账 entry."""

    aae140: str
    label: str
    rates: Rates
    unit: Decimal
    person: Decimal
    unit_book: Decimal

    @property
    def unit_payable(self) -> Decimal:
        """What the unit pays in cash (the unit share less any 虚账 book entry)."""
        return self.unit - self.unit_book


@dataclass(frozen=True, slots=True)
class Preview:
    """The preview of a whole declaration for ``period``."""

    period: Period
    bound_wage: Decimal
    lower_ratio: Decimal
    upper_ratio: Decimal
    lower: Decimal
    upper: Decimal
    lines: list[PreviewLine]
    pension: InsuranceTotal
    annuity: InsuranceTotal
    declared_total: Decimal
    base_total: Decimal

    @property
    def clamped_lower(self) -> int:
        return sum(1 for line in self.lines if line.clamp == "lower")

    @property
    def clamped_upper(self) -> int:
        return sum(1 for line in self.lines if line.clamp == "upper")


def preview(rows: Sequence[DeclaredWage], params: RegionParams, period: Period, *, funding: str) -> Preview:
    """Bases and monthly amounts of ``rows`` for ``period`` under the region's parameters.

    ``funding`` is the unit's 财政供款 code (1 全额, 2 差额, 3 自收自支). Raises
    ``hub.rules.params.ParameterMissing`` when a bound, wage, rate or the annuity code is not
    configured for the period, and ``ValueError`` for an unknown funding code.
    """
    lower_ratio, upper_ratio, _ = params.bounds(period)
    bound_wage = params.bound_wage(period)
    lower, upper = base_bounds(bound_wage, lower_ratio, upper_ratio)
    annuity_code = params.param(ANNUITY_AAE140, period.first_day)
    pension_rates = params.rates(BASIC_PENSION_AAE140, period)
    annuity_rates = params.rates(annuity_code, period)
    annuity_real = annuity_unit_share_real(funding)
    lines: list[PreviewLine] = []
    sums = {k: Decimal(0) for k in ("declared", "base", "pu", "pp", "au", "ap", "book")}
    for row in rows:
        declared = to_fen(row.wage)
        # clamp_base(declared, bound_wage, lower_ratio, upper_ratio), with the bounds computed once.
        base = min(max(declared, lower), upper)
        clamp: Clamp | None = "lower" if declared < lower else "upper" if declared > upper else None
        # The basic-pension unit share is always collected in cash (plan_month does the same).
        pension = contribution(base, pension_rates, unit_share_real=True)
        annuity = contribution(base, annuity_rates, unit_share_real=annuity_real)
        lines.append(PreviewLine(row.row, row.person_id, row.name, declared, base, clamp, pension, annuity))
        sums["declared"] += declared
        sums["base"] += base
        sums["pu"] += pension.unit
        sums["pp"] += pension.person
        sums["au"] += annuity.unit
        sums["ap"] += annuity.person
        if not annuity_real:
            sums["book"] += annuity.unit
    return Preview(
        period=period,
        bound_wage=bound_wage,
        lower_ratio=lower_ratio,
        upper_ratio=upper_ratio,
        lower=lower,
        upper=upper,
        lines=lines,
        pension=InsuranceTotal(
            BASIC_PENSION_AAE140, "机关事业单位基本养老保险", pension_rates, sums["pu"], sums["pp"], Decimal(0)
        ),
        annuity=InsuranceTotal(annuity_code, "职业年金", annuity_rates, sums["au"], sums["ap"], sums["book"]),
        declared_total=sums["declared"],
        base_total=sums["base"],
    )
