"""Contribution base, amounts and late fees (DOMAIN.md §1.2, §1.3, §1.8, §1.9).

``Contribution.real_account`` describes the **unit** share only: the personal share of both the
basic pension and the 职业年金 is always collected in cash (DOMAIN.md §1.8, Art. 6). A unit share
with ``real_account=False`` is a 虚账 book entry: recorded and credited, never collected.
"""

from dataclasses import dataclass
from decimal import Decimal

from hub.rules.money import to_fen

DEFAULT_LATE_FEE_RATE = Decimal("0.0005")  # 社会保险法 Art. 86, 0.05 %/day (DOMAIN.md §1.9)

# 财政供款 codes of the unit (core.ab01.funding): 1 全额, 2 差额, 3 自收自支.
FUNDING_FULL = "1"
FUNDING_CODES = frozenset({"1", "2", "3"})


def base_bounds(avg_monthly_wage: Decimal, lower_ratio: Decimal, upper_ratio: Decimal) -> tuple[Decimal, Decimal]:
    """The (lower, upper) base bounds for a reference average wage, each to the fen."""
    if avg_monthly_wage <= 0:
        raise ValueError(f"average wage must be positive, got {avg_monthly_wage}")
    if not 0 <= lower_ratio <= upper_ratio:
        raise ValueError(f"need 0 <= lower_ratio <= upper_ratio, got {lower_ratio}, {upper_ratio}")
    return to_fen(avg_monthly_wage * lower_ratio), to_fen(avg_monthly_wage * upper_ratio)


def clamp_base(declared: Decimal, avg_monthly_wage: Decimal, lower_ratio: Decimal, upper_ratio: Decimal) -> Decimal:
    """The contribution base: the declared wage held inside the bounds (DOMAIN.md §1.3)."""
    if declared < 0:
        raise ValueError(f"declared wage must not be negative, got {declared}")
    lower, upper = base_bounds(avg_monthly_wage, lower_ratio, upper_ratio)
    return min(max(to_fen(declared), lower), upper)


@dataclass(frozen=True, slots=True)
class Rates:
    """Rates of one 险种 for one period; ``account`` is the share of the base credited to the
    individual account (basic pension: the personal 8 %; 职业年金: unit 8 % + personal 4 %)."""

    unit: Decimal
    person: Decimal
    account: Decimal

    def __post_init__(self) -> None:
        for name in ("unit", "person", "account"):
            value: Decimal = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"rate {name}={value} is outside [0, 1)")
        if self.account > self.unit + self.person:
            raise ValueError(f"account rate {self.account} exceeds unit + person {self.unit + self.person}")


@dataclass(frozen=True, slots=True)
class Contribution:
    """One month's contribution of one person to one 险种 (see the module note on real_account)."""

    base: Decimal
    unit: Decimal
    person: Decimal
    to_account: Decimal
    real_account: bool


def annuity_unit_share_real(funding: str) -> bool:
    """Whether the 职业年金 unit share is funded in cash (实账).

    Units fully funded by the budget (财政全额供款, code "1") keep it as a 虚账 book entry
    (DOMAIN.md §1.8, 国办发〔2015〕18号 Art. 6).
    """
    if funding not in FUNDING_CODES:
        raise ValueError(f"unknown 财政供款 code {funding!r}, expected one of {sorted(FUNDING_CODES)}")
    return funding != FUNDING_FULL


def contribution(base: Decimal, rates: Rates, *, unit_share_real: bool = True) -> Contribution:
    """Amounts for ``base``: each is base × rate, to the fen.

    The account credit is taken from the personal share first, then from the unit share, and each
    part is rounded on its own: that way the basic-pension credit equals the personal amount and
    the annuity credit (the unit share at the unit rate of the individual base, Art. 7) equals
    unit + personal to the fen, with no rounding gap between what is collected and credited.
    """
    if base < 0:
        raise ValueError(f"base must not be negative, got {base}")
    person_credit = min(rates.account, rates.person)
    unit_credit = rates.account - person_credit
    return Contribution(
        base=to_fen(base),
        unit=to_fen(base * rates.unit),
        person=to_fen(base * rates.person),
        to_account=to_fen(base * person_credit) + to_fen(base * unit_credit),
        real_account=unit_share_real,
    )


def late_fee(arrears: Decimal, days: int, daily_rate: Decimal = DEFAULT_LATE_FEE_RATE) -> Decimal:
    """滞纳金 = arrears × daily rate × days overdue, to the fen (DOMAIN.md §1.9).

    The rate is a dated regional parameter; 0.0005 is the current statutory default, the legacy
    0.002 of the repealed 1999 regulation must come from configuration if ever needed.
    """
    if arrears < 0 or days < 0 or daily_rate < 0:
        raise ValueError("arrears, days and daily_rate must not be negative")
    return to_fen(arrears * daily_rate * days)
