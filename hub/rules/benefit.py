"""The "new method" (新办法) monthly benefit (DOMAIN.md §1.6).

Entitlement: with fewer than ``min_years`` in total (视同 years included, default 15) there is no
monthly basic or transitional pension (DOMAIN.md §1.6; the shortfall is handled under 人社部令第13号
— 补缴, transfer or lump sum — outside this rule). The account and annuity amounts are still
computed so they can be shown; the annuity has its own payout rules (§1.8).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from hub.rules.money import to_fen
from hub.rules.tax import TaxBracket, monthly_annuity_tax

DEFAULT_MIN_YEARS = Decimal(15)
_PERCENT = Decimal("0.01")
_INDEX_PLACES = Decimal("0.0001")


def basic_pension(c: Decimal, z: Decimal, years: Decimal | int) -> Decimal:
    """基础养老金 = (C + C × Z) / 2 × N × 1 %."""
    _check_non_negative(c=c, z=z, years=Decimal(years))
    return to_fen((c + c * z) / 2 * years * _PERCENT)


def account_pension(balance: Decimal, months: Decimal) -> Decimal:
    """个人账户养老金 = 个人账户储存额 ÷ 计发月数."""
    return _per_month(balance, months)


def transitional_pension(c: Decimal, z_deemed: Decimal, years_deemed: Decimal | int, coef: Decimal) -> Decimal:
    """过渡性养老金 = C × Z视同 × N视同 × 过渡系数 (the coefficient is provincial, e.g. 0.012)."""
    _check_non_negative(c=c, z_deemed=z_deemed, years_deemed=Decimal(years_deemed), coef=coef)
    return to_fen(c * z_deemed * years_deemed * coef)


def annuity_monthly(balance: Decimal, months: Decimal) -> Decimal:
    """职业年金月待遇 before tax = 职业年金账户储存额 ÷ 计发月数."""
    return _per_month(balance, months)


def average_index(pairs: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """平均缴费指数: the mean over months of base / average wage, to 4 decimals half up.

    Only the mean is rounded, so the result does not depend on how the months are grouped.
    """
    ratios: list[Decimal] = []
    for base, wage in pairs:
        if wage <= 0:
            raise ValueError(f"average wage must be positive, got {wage}")
        ratios.append(base / wage)
    if not ratios:
        raise ValueError("average_index needs at least one month")
    return (sum(ratios, Decimal(0)) / len(ratios)).quantize(_INDEX_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class NewMethodBenefit:
    """Items of a 新办法 benefit; ``total`` includes the annuity after tax (DOMAIN.md preface)."""

    basic: Decimal
    account: Decimal
    transitional: Decimal
    annuity_before_tax: Decimal
    annuity_tax: Decimal
    annuity_after_tax: Decimal
    total: Decimal
    entitled: bool  # total years ≥ the minimum; otherwise basic and transitional are zero


def new_method(
    *,
    c: Decimal,
    z: Decimal,
    years: Decimal,
    account_balance: Decimal,
    payout_months: Decimal,
    annuity_balance: Decimal,
    tax_brackets: Sequence[TaxBracket],
    z_deemed: Decimal = Decimal(0),
    years_deemed: Decimal = Decimal(0),
    transition_coef: Decimal = Decimal(0),
    min_years: Decimal = DEFAULT_MIN_YEARS,
) -> NewMethodBenefit:
    """All items of the new-method benefit.

    ``years`` is N in total (视同 years included, may be months / 12); ``years_deemed`` is the 视同
    part of it, which earns the transitional pension.
    """
    if years_deemed > years:
        raise ValueError(f"deemed years {years_deemed} exceed total years {years}")
    entitled = years >= min_years
    zero = to_fen(Decimal(0))
    basic = basic_pension(c, z, years) if entitled else zero
    transitional = transitional_pension(c, z_deemed, years_deemed, transition_coef) if entitled else zero
    account = account_pension(account_balance, payout_months)
    annuity_before = annuity_monthly(annuity_balance, payout_months)
    annuity_tax = monthly_annuity_tax(annuity_before, tax_brackets)
    annuity_after = annuity_before - annuity_tax
    return NewMethodBenefit(
        basic=basic,
        account=account,
        transitional=transitional,
        annuity_before_tax=annuity_before,
        annuity_tax=annuity_tax,
        annuity_after_tax=annuity_after,
        total=basic + account + transitional + annuity_after,
        entitled=entitled,
    )


def years_of(months: int) -> Decimal:
    """Contribution years as months / 12 (N may be fractional)."""
    return Decimal(months) / 12


def _per_month(balance: Decimal, months: Decimal) -> Decimal:
    if months <= 0:
        raise ValueError(f"计发月数 must be positive, got {months}")
    if balance < 0:
        raise ValueError(f"balance must not be negative, got {balance}")
    return to_fen(balance / months)


def _check_non_negative(**values: Decimal) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
