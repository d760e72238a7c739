"""补收: what an enrolment or resumption from a past month makes the unit pay, estimated before it is
submitted (the core computes the real amounts when it applies the declaration, with the same rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.rules.params import ANNUITY_AAE140, BASIC_PENSION_AAE140, ParameterMissing, RegionParams, plan_month
from hub.rules.period import Period


@dataclass(frozen=True)
class BackPay:
    """``total`` is what is collected in cash (unit and personal shares of both 险种); ``book`` the 职业年金
    unit share kept as a 虚账 entry; ``total`` is None when the region's parameters do not cover the months.
    """

    months: int
    first: Period | None
    last: Period | None
    total: Decimal | None
    book: Decimal


def estimate_back_pay(params: RegionParams, funding: str, start: date, on: date, wage: Decimal) -> BackPay:
    """补收 for the months from ``start``'s month to the month before ``on``'s, at ``wage`` (clamped per month).

    Each month and 险种 is ``plan_month``, as the core plans it; raises nothing: missing parameters leave
    ``total`` unknown.
    """
    first, now = Period.of(start), Period.of(on)
    if first >= now:
        return BackPay(0, None, None, Decimal(0), Decimal(0))
    last = now - 1
    total = book = Decimal(0)
    try:
        for p in Period.range(first, last):
            for code in (BASIC_PENSION_AAE140, params.param(ANNUITY_AAE140, p.first_day)):
                c = plan_month(params, code, p, wage, funding=funding)
                total += c.person + (c.unit if c.real_account else 0)
                book += 0 if c.real_account else c.unit
    except (ParameterMissing, ValueError):  # a month without parameters, or a funding code the rules lack
        return BackPay(now - first, first, last, None, Decimal(0))
    return BackPay(now - first, first, last, total, book)
