"""The core's benefit decision (待遇核定): the new-method items, the transition comparison, what is paid.

Pure: the inputs are gathered by the caller (core/service.py from the database, core/seed.py from
the generated history); the formulas are hub/rules (DOMAIN.md §1.6–§1.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.rules.benefit import NewMethodBenefit, new_method, years_of
from hub.rules.params import RegionParams
from hub.rules.payout_months import payout_months
from hub.rules.transition import compare, transition_share


@dataclass(frozen=True)
class BenefitInputs:
    retire_date: date
    age_months: int  # age at retirement in months (计发月数 is interpolated per month from 2025)
    average_index: Decimal  # 本人平均缴费指数 Z
    paid_months: int  # actual contribution months
    deemed_months: int  # 视同缴费 months
    deemed_index: Decimal  # 视同缴费指数 from the provincial table
    account_balance: Decimal  # 个人账户储存额 at retirement
    annuity_balance: Decimal  # 职业年金账户储存额 at retirement
    old_method_amount: Decimal | None = None  # 原办法 amount, for retirements inside the transition


@dataclass(frozen=True)
class BenefitDecision:
    method: str  # NEW or COMPARE
    benefit: NewMethodBenefit
    items: tuple[tuple[str, Decimal], ...]
    approved: Decimal  # 核定养老金, the annuity after tax included
    paid_by_agency: Decimal  # 实发 by the agency: the annuity is paid separately (DOMAIN.md preface)


def decide(params: RegionParams, inputs: BenefitInputs) -> BenefitDecision:
    """Compute the benefit of one retiree with the parameters in force at retirement."""
    on = inputs.retire_date
    benefit = new_method(
        c=params.wage(on.year - 1, "BENEFIT"),
        z=inputs.average_index,
        years=years_of(inputs.paid_months + inputs.deemed_months),
        account_balance=inputs.account_balance,
        payout_months=payout_months(params.payout_table, inputs.age_months // 12, inputs.age_months % 12),
        annuity_balance=inputs.annuity_balance,
        tax_brackets=params.tax_brackets(on),
        z_deemed=inputs.deemed_index,
        years_deemed=years_of(inputs.deemed_months),
        transition_coef=Decimal(params.param("TRANSITION_COEF", on)),
        min_years=Decimal(params.param("MIN_YEARS", on)),
    )
    items: list[tuple[str, Decimal]] = [
        ("基础养老金", benefit.basic),
        ("个人账户养老金", benefit.account),
        ("过渡性养老金", benefit.transitional),
        ("职业年金(税前)", benefit.annuity_before_tax),
        ("职业年金个税", benefit.annuity_tax),
        ("职业年金(税后)", benefit.annuity_after_tax),
        ("新办法合计", benefit.total),
        ("个人账户储存额", inputs.account_balance),
        ("职业年金账户储存额", inputs.annuity_balance),
    ]
    table = params.transition_table
    in_transition = bool(table) and table[0][0] <= on <= max(row[1] for row in table)
    if in_transition and inputs.old_method_amount is not None:
        # 新老办法对比 (§1.7): the new total includes the annuity after tax.
        comparison = compare(benefit.total, inputs.old_method_amount, transition_share(on, table))
        items += [("原办法", inputs.old_method_amount), ("补差", comparison.adjustment)]
        approved, method = comparison.approved, "COMPARE"
    else:
        approved, method = benefit.total, "NEW"
    items.append(("核定养老金", approved))
    return BenefitDecision(method, benefit, tuple(items), approved, approved - benefit.annuity_after_tax)
