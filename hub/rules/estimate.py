"""养老金测算: an estimate of the monthly pension with the same formulas the core uses to decide it.

The person's own history is given as of the end of ``balance_year`` (the year of the last 个人权益记录单):
the two account balances, the 视同 and actual contribution months and the 平均缴费指数. From January of
the next year until the month before retirement the estimate contributes every month on the person's
wage, growing each January by the assumed growth, and proceeds exactly as the core does:

- base: the wage held inside the bounds of the period (DOMAIN.md §1.3; ``clamp_base``), the bound
  wage being the average wage of the year before, projected with the assumed average-wage growth
  when the region has not published it yet;
- account credits: the period's rates (``contribution``; basic pension 8 %, 职业年金 unit 8 % + 4 %,
  DOMAIN.md §1.2, §1.8) and yearly crediting with the region's method (``credit_year``, §1.4) at the
  assumed rate (default: the latest published 记账利率). The retirement year is not closed when the
  pension is decided, so its credits are added without interest;
- 平均缴费指数: the month-weighted mean of the given index and each new month's base / bound wage (§1.6);
- benefit: ``new_method`` (§1.6: 基础养老金 + 个人账户养老金 + 过渡性养老金, 职业年金 = account ÷ 计发月数
  and its tax, §1.8) with C the 计发基数 of the year before retirement (projected when not published),
  计发月数 at the retirement age interpolated per month (§1.5), and the region's 过渡系数 and minimum years.

Retirement age: the statutory age of the 2025 reform by default; the person may try any age from the
original age (60, 55 or 50) to three years past the statutory one (弹性退休, DOMAIN.md §1.1).

Pure: no database. ``EstimateInputError`` carries a Chinese message for the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hub.rules import retirement
from hub.rules.benefit import NewMethodBenefit, new_method
from hub.rules.contributions import clamp_base, contribution
from hub.rules.interest import InterestMethod, credit_year
from hub.rules.money import to_fen
from hub.rules.params import ANNUITY_AAE140, ParameterMissing, RegionParams
from hub.rules.payout_months import payout_months
from hub.rules.period import Period

BASIC_AAE140 = "120"  # 机关事业单位基本养老保险 (DOMAIN.md §2.3)
FLEX_LATER_MONTHS = 36  # 弹性退休: at most three years after the statutory age
_INDEX_PLACES = Decimal("0.0001")
_ZERO = Decimal("0.00")


class EstimateInputError(ValueError):
    """An input the estimate cannot use; the message is shown to the person (Simplified Chinese)."""


@dataclass(frozen=True, slots=True)
class History:
    """The person's record at the end of ``balance_year``."""

    birth: date
    sex: str  # "1" male, "2" female
    balance_year: int
    account_balance: Decimal  # 基本养老保险个人账户储存额 at the end of balance_year
    annuity_balance: Decimal  # 职业年金个人账户储存额 at the end of balance_year
    deemed_months: int  # 视同缴费月数
    paid_months: int  # actual contribution months up to the end of balance_year
    average_index: Decimal  # 平均缴费指数 over those months
    deemed_index: Decimal  # 视同缴费指数 (provincial table by post, DOMAIN.md §1.6)
    current_wage: Decimal  # monthly 缴费工资 in the first projected year
    female_original_age: int = 55


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What the person may vary; ``None`` takes the default named on each field."""

    retire_age_months: int | None = None  # default: statutory age
    wage_growth: Decimal = Decimal("0.03")  # own wage, per year
    average_wage_growth: Decimal | None = None  # average wages and 计发基数, per year; default: wage_growth
    interest_rate: Decimal | None = None  # 记账利率; default: the latest published
    annuity_return: Decimal | None = None  # 职业年金 yield; default: interest rate


@dataclass(frozen=True, slots=True)
class YearRow:
    """One projected year."""

    year: int
    months: int
    wage: Decimal
    base: Decimal
    bound_wage: Decimal
    basic_credited: Decimal
    basic_closing: Decimal
    annuity_credited: Decimal
    annuity_closing: Decimal


@dataclass(frozen=True, slots=True)
class Estimate:
    retire_date: date
    age_months: int
    statutory_age_months: int
    payout_months: Decimal
    c: Decimal  # 计发基数
    average_index: Decimal
    paid_months: int
    deemed_months: int
    account_balance: Decimal
    annuity_balance: Decimal
    interest_rate: Decimal
    annuity_return: Decimal
    benefit: NewMethodBenefit
    years: tuple[YearRow, ...]

    @property
    def items(self) -> tuple[tuple[str, Decimal], ...]:
        b = self.benefit
        return (
            ("基础养老金", b.basic),
            ("个人账户养老金", b.account),
            ("过渡性养老金", b.transitional),
            ("职业年金(税前)", b.annuity_before_tax),
            ("职业年金个税", b.annuity_tax),
            ("职业年金(税后)", b.annuity_after_tax),
            ("月养老金合计", b.total),
        )


def projected_wage(params: RegionParams, year: int, kind: str, growth: Decimal) -> Decimal:
    """The published monthly average wage of ``kind`` for ``year``, or the latest published one grown by
    ``growth`` per year after it, to the fen."""
    try:
        return params.wage(year, kind)
    except ParameterMissing:
        known = [r for r in params.wage_rows if r.kind == kind and r.year < year]
        if not known:
            raise
        latest = max(known, key=lambda r: r.year)
        return to_fen(latest.monthly * (1 + growth) ** (year - latest.year))


def latest_interest(params: RegionParams) -> Decimal:
    if not params.interest_rows:
        raise ParameterMissing(f"region {params.region}: no 记账利率 published")
    return max(params.interest_rows, key=lambda r: r.year).rate


def _check(history: History, a: Assumptions) -> None:
    for name, value in (("个人账户储存额", history.account_balance), ("职业年金账户储存额", history.annuity_balance)):
        if value < 0:
            raise EstimateInputError(f"{name}不能为负数")
    if history.current_wage < 0:
        raise EstimateInputError("缴费工资不能为负数")
    if history.deemed_months < 0 or history.paid_months < 0:
        raise EstimateInputError("缴费月数不能为负数")
    if history.average_index < 0 or history.deemed_index < 0:
        raise EstimateInputError("缴费指数不能为负数")
    for label, rate in (("工资增长率", a.wage_growth), ("社平工资增长率", a.average_wage_growth)):
        if rate is not None and not Decimal("-0.5") < rate <= Decimal("0.5"):
            raise EstimateInputError(f"{label}应在 -50% 到 50% 之间")
    for label, rate in (("记账利率", a.interest_rate), ("职业年金收益率", a.annuity_return)):
        if rate is not None and not Decimal("-0.2") < rate <= Decimal("0.2"):
            raise EstimateInputError(f"{label}应在 -20% 到 20% 之间")


def estimate(params: RegionParams, history: History, assumptions: Assumptions = Assumptions()) -> Estimate:
    """The estimated monthly pension and its breakdown (see the module note).

    Raises ``EstimateInputError`` (Chinese message) for unusable inputs and ``ParameterMissing`` when
    the region lacks a parameter the estimate needs.
    """
    a = assumptions
    _check(history, a)
    try:
        cohort = retirement.cohort_of(history.sex, female_original_age=history.female_original_age)
    except ValueError:
        raise EstimateInputError("性别或原法定退休年龄不正确") from None
    statutory = retirement.age_months(history.birth, history.sex, female_original_age=history.female_original_age)
    age = statutory if a.retire_age_months is None else a.retire_age_months
    earliest, latest = cohort.original_years * 12, statutory + FLEX_LATER_MONTHS
    if not earliest <= age <= latest:
        raise EstimateInputError(
            f"退休年龄应在{earliest // 12}岁{earliest % 12}个月至{latest // 12}岁{latest % 12}个月之间"
        )
    retire_period = Period.of(history.birth) + age
    first = Period(history.balance_year + 1, 1)
    if retire_period < first:
        raise EstimateInputError("退休时间早于账户余额所属年度之后，无法测算")
    retire_date = retire_period.first_day

    avg_growth = a.wage_growth if a.average_wage_growth is None else a.average_wage_growth
    rate = latest_interest(params) if a.interest_rate is None else a.interest_rate
    annuity_rate = rate if a.annuity_return is None else a.annuity_return

    basic, annuity = to_fen(history.account_balance), to_fen(history.annuity_balance)
    ratio_sum, new_months = Decimal(0), 0
    years: list[YearRow] = []
    for year in range(first.year, retire_period.year + 1):
        months = [p for p in Period.range(Period(year, 1), Period(year, 12)) if p < retire_period]
        wage = to_fen(history.current_wage * (1 + a.wage_growth) ** (year - first.year))
        base, bound_wage = _ZERO, _ZERO
        basic_credit, annuity_credit = _ZERO, _ZERO
        for period in months:
            lower, upper, kind = params.bounds(period)
            bound_wage = projected_wage(params, year - 1, kind, avg_growth)
            base = clamp_base(wage, bound_wage, lower, upper)
            basic_credit += contribution(base, params.rates(BASIC_AAE140, period)).to_account
            annuity_code = params.param(ANNUITY_AAE140, period.first_day)
            annuity_credit += contribution(base, params.rates(annuity_code, period)).to_account
            ratio_sum += base / bound_wage
            new_months += 1
        if year < retire_period.year:
            method = InterestMethod(params.param("INTEREST_METHOD", date(year, 12, 31)))
            _, basic = credit_year(basic, basic_credit, rate, method)
            _, annuity = credit_year(annuity, annuity_credit, annuity_rate, method)
        else:  # the retirement year is not closed yet: its credits count, its interest does not
            basic, annuity = basic + basic_credit, annuity + annuity_credit
        if months or year < retire_period.year:
            years.append(
                YearRow(year, len(months), wage, base, bound_wage, basic_credit, basic, annuity_credit, annuity)
            )

    paid = history.paid_months + new_months
    z = history.average_index
    if new_months:
        z = ((history.average_index * history.paid_months + ratio_sum) / paid).quantize(_INDEX_PLACES, ROUND_HALF_UP)
    c = projected_wage(params, retire_date.year - 1, "BENEFIT", avg_growth)
    months_paid_out = payout_months(params.payout_table, age // 12, age % 12)
    benefit = new_method(
        c=c,
        z=z,
        years=Decimal(paid + history.deemed_months) / 12,
        account_balance=basic,
        payout_months=months_paid_out,
        annuity_balance=annuity,
        tax_brackets=params.tax_brackets(retire_date),
        z_deemed=history.deemed_index,
        years_deemed=Decimal(history.deemed_months) / 12,
        transition_coef=Decimal(params.param("TRANSITION_COEF", retire_date)),
        min_years=Decimal(params.param("MIN_YEARS", retire_date)),
    )
    return Estimate(
        retire_date=retire_date,
        age_months=age,
        statutory_age_months=statutory,
        payout_months=months_paid_out,
        c=c,
        average_index=z,
        paid_months=paid,
        deemed_months=history.deemed_months,
        account_balance=basic,
        annuity_balance=annuity,
        interest_rate=rate,
        annuity_return=annuity_rate,
        benefit=benefit,
        years=tuple(years),
    )
