"""调基补差 explained to the unit: per person, 险种 and month, the base before and after, the rates, the
difference and why — with the dated parameters the core applied (their effective period and source).

The core writes a 调基补差 row (AAA115 41) when a planned month's amounts change, e.g. after a new annual
wage declaration or newly published average wages (``core.service.declare_wages``); the row holds the
differences. Here, for each such row, the base before it is the sum of the month's earlier rows of that
person and 险种 (in detail order), the base after it that sum plus the row. The difference the unit owes
is the personal part plus the unit part when the unit share is 实账 (a 虚账 unit share of 职业年金 is
recorded, not paid).

Scope ``unit:read`` as the other unit reads: the unit's own operators or staff of its 统筹区; a refused
and a missing unit raise the same ``NotFound``; one audit record per call; names masked per channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hub.access.context import ReadContext
from hub.persons.estimate_inputs import region_params
from hub.persons.repository import _all
from hub.rules.contributions import clamp_base
from hub.rules.params import ParameterMissing, RegionParams
from hub.rules.period import Period
from hub.units import service as units

ADJUSTMENT_KIND = "41"  # AAA115 调基补差
WAGE_KIND_LABELS = {"ALL": "全口径城镇单位就业人员月平均工资", "ONPOST": "在岗职工月平均工资"}
ZERO = Decimal("0.00")

LINES_SQL = """
select x.detail_id, x.person_id, p.name, x.insurance, x.period, x.real_account,
       x.after_wage - x.declared_wage as old_wage, x.after_wage as new_wage,
       x.after_base - x.base as old_base, x.after_base as new_base,
       x.unit_amount, x.personal_amount
from (
    select m.*, sum(m.base) over w as after_base, sum(m.declared_wage) over w as after_wage
    from contribution_month m
    where m.unit_id = %(u)s and (%(y)s::int is null or m.period between %(y)s * 100 + 1 and %(y)s * 100 + 12)
    window w as (partition by m.person_id, m.insurance, m.period order by m.detail_id
                 rows between unbounded preceding and current row)
) x left join person_overview p on p.person_id = x.person_id
where x.kind = %(k)s
order by x.period desc, x.person_id, x.insurance, x.detail_id
"""


@dataclass(frozen=True)
class Basis:
    """One dated parameter behind a difference: what it is, its value, from when and its source."""

    what: str
    value: str
    effective: str
    source: str


@dataclass(frozen=True)
class Line:
    person_id: int
    name: str | None
    insurance: str
    period: int
    old_wage: Decimal
    new_wage: Decimal
    old_base: Decimal
    new_base: Decimal
    unit_rate: Decimal | None
    person_rate: Decimal | None
    unit_difference: Decimal
    personal_difference: Decimal
    real_account: bool
    reasons: tuple[str, ...]
    basis: tuple[Basis, ...]

    @property
    def difference(self) -> Decimal:
        return self.unit_difference + self.personal_difference

    @property
    def owed(self) -> Decimal:
        """What the unit pays: the personal part, and the unit part when it is 实账."""
        return self.personal_difference + (self.unit_difference if self.real_account else ZERO)

    @property
    def rates_text(self) -> str:
        if self.unit_rate is None or self.person_rate is None:
            return "—"
        return f"{_percent(self.unit_rate)} / {_percent(self.person_rate)}"

    @property
    def period_label(self) -> str:
        return f"{self.period // 100}年{self.period % 100:02d}月"


@dataclass
class Report:
    unit_id: int
    year: int | None
    lines: list[Line] = field(default_factory=list)
    basis: list[Basis] = field(default_factory=list)  # every parameter cited, once
    years: list[int] = field(default_factory=list)  # years with differences (for the filter)

    @property
    def total_difference(self) -> Decimal:
        return sum((x.difference for x in self.lines), ZERO)

    @property
    def total_owed(self) -> Decimal:
        return sum((x.owed for x in self.lines), ZERO)

    def totals_by_insurance(self) -> dict[str, tuple[Decimal, Decimal]]:
        """险种 → (difference, owed)."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for x in self.lines:
            d, o = out.get(x.insurance, (ZERO, ZERO))
            out[x.insurance] = (d + x.difference, o + x.owed)
        return dict(sorted(out.items()))


def _covers(from_period: int, to_period: int | None, period: Period) -> bool:
    return from_period <= int(period) and (to_period is None or int(period) <= to_period)


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,} 元"


def _period_text(period: int) -> str:
    return f"{period // 100}年{period % 100:02d}月"


def explain(params: RegionParams, insurance: str, period: Period, old_wage: Decimal, new_wage: Decimal,
            old_base: Decimal, new_base: Decimal) -> tuple[tuple[str, ...], tuple[Basis, ...], Decimal | None,
                                                           Decimal | None]:  # fmt: skip
    """Why a month's base and amounts changed, the parameters behind it, and the rates (unit, person).

    A parameter the store does not hold (not yet synced) leaves its part out rather than failing the page.
    """
    reasons: list[str] = []
    basis: list[Basis] = []
    unit_rate = person_rate = None
    if new_wage != old_wage:
        reasons.append(f"缴费工资由 {_money(old_wage)} 调整为 {_money(new_wage)}（年度缴费工资申报）")
    try:
        lower, upper, kind = params.bounds(period)
        reference = params.bound_wage(period)
        bound = next(b for b in params.bound_rows if _covers(b.from_period, b.to_period, period))
        wage_row = next(w for w in params.wage_rows if w.year == period.year - 1 and w.kind == kind)
        low, high = (reference * lower).quantize(Decimal("0.01")), (reference * upper).quantize(Decimal("0.01"))
        basis.append(
            Basis(
                f"{period.year - 1}年度{WAGE_KIND_LABELS.get(kind, kind)}",
                _money(reference),
                f"用于{period.year}年缴费基数上下限",
                wage_row.source,
            )
        )
        basis.append(
            Basis(
                "缴费基数上下限比例",
                f"{_percent(lower)}–{_percent(upper)}（{period.year}年为 {_money(low)}–{_money(high)}）",
                f"自{_period_text(bound.from_period)}起",
                bound.source,
            )
        )
        if clamp_base(old_wage, reference, lower, upper) != old_base:
            reasons.append(
                f"{period.year - 1}年度平均工资公布后按新的上下限（{_money(low)}–{_money(high)}）重新核定缴费基数"
            )
        if new_base == high and new_wage > high:
            reasons.append(f"缴费工资高于上限，按上限 {_money(high)} 核定缴费基数")
        elif new_base == low and new_wage < low:
            reasons.append(f"缴费工资低于下限，按下限 {_money(low)} 核定缴费基数")
    except (ParameterMissing, StopIteration):
        pass
    try:
        rates = params.rates(insurance, period)
        unit_rate, person_rate = rates.unit, rates.person
        row = next(
            r
            for r in params.rate_rows
            if r.aae140 == insurance and r.payer == "UNIT" and _covers(r.from_period, r.to_period, period)
        )
        basis.append(
            Basis(
                f"险种{insurance}费率",
                f"单位 {_percent(rates.unit)}，个人 {_percent(rates.person)}",
                f"自{_period_text(row.from_period)}起",
                row.source,
            )
        )
    except (ParameterMissing, StopIteration):
        pass
    if not reasons:
        reasons.append("缴费基数重新核定")
    return tuple(reasons), tuple(basis), unit_rate, person_rate


async def list_adjustments(ctx: ReadContext, unit_id: int, *, year: int | None = None) -> Report:
    """The unit's 调基补差 rows explained, newest month first; optionally one year. Raises NotFound."""
    await units._check(ctx, "unit.adjustments", unit_id)
    overview = (await units._overviews(ctx, [unit_id]))[unit_id]
    params = await region_params(ctx.conn, str(overview.get("region_code") or ""))
    rows = await _all(ctx.conn, LINES_SQL, {"u": unit_id, "y": year, "k": ADJUSTMENT_KIND})
    years = await _all(
        ctx.conn,
        "select distinct period / 100 as year from contribution_month where unit_id = %s and kind = %s order by 1 desc",
        (unit_id, ADJUSTMENT_KIND),
    )
    await units._done(ctx, "unit.adjustments", unit_id)
    report = Report(unit_id, year, years=[int(r["year"]) for r in years])
    seen: dict[tuple[str, str, str], Basis] = {}
    for r in rows:
        line = _line(ctx, params, r)
        report.lines.append(line)
        for b in line.basis:
            seen.setdefault((b.what, b.value, b.effective), b)
    report.basis = list(seen.values())
    return report


def _line(ctx: ReadContext, params: RegionParams, r: dict[str, Any]) -> Line:
    period = Period.parse(int(r["period"]))
    insurance = str(r["insurance"])
    old_wage, new_wage = Decimal(r["old_wage"]), Decimal(r["new_wage"])
    old_base, new_base = Decimal(r["old_base"]), Decimal(r["new_base"])
    reasons, basis, unit_rate, person_rate = explain(params, insurance, period, old_wage, new_wage, old_base, new_base)
    return Line(
        person_id=int(r["person_id"]),
        name=ctx.mask.name(r["name"]),
        insurance=insurance,
        period=int(period),
        old_wage=old_wage,
        new_wage=new_wage,
        old_base=old_base,
        new_base=new_base,
        unit_rate=unit_rate,
        person_rate=person_rate,
        unit_difference=Decimal(r["unit_amount"]),
        personal_difference=Decimal(r["personal_amount"]),
        real_account=bool(r["real_account"]),
        reasons=reasons,
        basis=basis,
    )
