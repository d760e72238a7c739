"""Load a 统筹区's dated parameters from the core database into the pure ``RegionParams`` container."""

from __future__ import annotations

from typing import Any

import psycopg

from hub.rules.params import (
    BoundRow,
    InterestRow,
    LateFeeRow,
    ParamRow,
    PayoutRow,
    RateRow,
    RegionParams,
    TaxBracketRow,
    TransitionRow,
    WageRow,
)


def load(conn: psycopg.Connection[Any], region: str) -> RegionParams:
    """All parameters of ``region`` (and the national ones) as of now in the database."""

    def rows(sql: str, *args: object) -> list[tuple[Any, ...]]:
        return conn.execute(sql, args).fetchall()

    return RegionParams(
        region=region,
        rate_rows=tuple(
            RateRow(*r)
            for r in rows(
                "select aae140, payer, from_period, to_period, rate, account_rate, source "
                "from core.ya_rate where aaa027 = %s",
                region,
            )
        ),
        wage_rows=tuple(
            WageRow(*r)
            for r in rows("select aae001, kind, monthly, source from core.ya_wage where aaa027 = %s", region)
        ),
        bound_rows=tuple(
            BoundRow(*r)
            for r in rows(
                "select from_period, to_period, lower_ratio, upper_ratio, wage_kind, source "
                "from core.ya_base_bound where aaa027 = %s",
                region,
            )
        ),
        interest_rows=tuple(InterestRow(*r) for r in rows("select aae001, rate, source from core.ya_interest")),
        payout_rows=tuple(PayoutRow(*r) for r in rows("select age, months from core.ya_payout_months")),
        late_fee_rows=tuple(
            LateFeeRow(*r)
            for r in rows("select valid_from, daily_rate, source from core.ya_late_fee where aaa027 = %s", region)
        ),
        tax_rows=tuple(
            TaxBracketRow(*r)
            for r in rows(
                "select valid_from, lower_bound, upper_bound, rate, quick_deduction, source from core.ya_tax_bracket"
            )
        ),
        transition_rows=tuple(
            TransitionRow(*r) for r in rows("select from_date, to_date, share, source from core.ya_transition_share")
        ),
        param_rows=tuple(
            ParamRow(*r)
            for r in rows("select code, valid_from, value, source from core.ya_param where aaa027 = %s", region)
        ),
    )
