"""What the pension estimator (``hub.rules.estimate``) needs, read from the query store.

``region_params`` rebuilds a 统筹区's dated parameters from ``region_parameter`` (the synced copy of the
core's ``ya_*`` tables, national tables under region ``000000``), the same rows ``core.params.load``
reads from the core. ``person_history`` gathers the person's record at the end of the last closed
account year, the way the core gathers it when it decides a benefit (``core.service.approve_benefit``):
balances from ``account_year``, 视同 months from ``person_insurance``, and the 平均缴费指数 as the mean
of base / the period's bound wage over the basic-pension months (returns, 退收, excluded).

Access follows the person services: the row rule of ``hub.access.rules`` under ``account:read``, a
refused and a missing person raise the same ``NotFound``, and each call writes one audit record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from psycopg.rows import dict_row

from hub.access import rules
from hub.access.context import ReadContext
from hub.access.scopes import Scope
from hub.db import ReadConnection
from hub.errors import NotFound
from hub.persons import repository as repo
from hub.rules.estimate import BASIC_AAE140, History
from hub.rules.params import (
    BoundRow,
    InterestRow,
    LateFeeRow,
    ParameterMissing,
    ParamRow,
    PayoutRow,
    RateRow,
    RegionParams,
    TaxBracketRow,
    TransitionRow,
    WageRow,
)
from hub.rules.period import Period

NATIONAL = "000000"  # region_code of the parameter tables without a region column (sync.models.PARAMETERS)
RETURN_KIND = "21"  # AAA115 退收: not a month of contribution
WORKER_POSITION = "工勤"  # women in 工勤 posts have the original retirement age 50 (DOMAIN.md §1.1)
INDEX_PLACES = Decimal("0.0001")
ZERO = Decimal("0.00")

Row = dict[str, Any]


class NoHistory(NotFound):
    """The person has no closed account year yet: nothing to project from."""

    title = "暂无账户记录"
    default_detail = "暂无已结算的个人账户年度记录，暂时无法测算"


@dataclass(frozen=True)
class EstimateInputs:
    params: RegionParams
    history: History
    retired: bool
    position: str | None


def _date(value: Any) -> date:
    return date.fromisoformat(str(value))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


async def region_params(conn: ReadConnection, region: str) -> RegionParams:
    """The parameters of ``region`` and the national ones, as ``core.params.load`` reads them from the core."""
    cur = await conn.execute(
        "select kind, value::text from region_parameter where region_code = any(%s) order by kind, param_key",
        ([region, NATIONAL],),
    )
    by_kind: dict[str, list[Row]] = {}
    for kind, text in await cur.fetchall():
        # JSON numbers as Decimal: money and rates never pass through float.
        by_kind.setdefault(str(kind), []).append(json.loads(text, parse_float=Decimal, parse_int=Decimal))

    def rows(kind: str) -> Sequence[Row]:
        return by_kind.get(kind, [])

    return RegionParams(
        region=region,
        rate_rows=tuple(
            RateRow(
                str(r["aae140"]),
                r["payer"],
                int(r["from_period"]),
                _opt_int(r["to_period"]),
                _dec(r["rate"]),
                _dec(r["account_rate"]),
                str(r["source"]),
            )
            for r in rows("ya_rate")
        ),
        wage_rows=tuple(
            WageRow(int(r["aae001"]), r["kind"], _dec(r["monthly"]), str(r["source"])) for r in rows("ya_wage")
        ),
        bound_rows=tuple(
            BoundRow(
                int(r["from_period"]),
                _opt_int(r["to_period"]),
                _dec(r["lower_ratio"]),
                _dec(r["upper_ratio"]),
                r["wage_kind"],
                str(r["source"]),
            )
            for r in rows("ya_base_bound")
        ),
        interest_rows=tuple(
            InterestRow(int(r["aae001"]), _dec(r["rate"]), str(r["source"])) for r in rows("ya_interest")
        ),
        payout_rows=tuple(PayoutRow(int(r["age"]), _dec(r["months"])) for r in rows("ya_payout_months")),
        late_fee_rows=tuple(
            LateFeeRow(_date(r["valid_from"]), _dec(r["daily_rate"]), str(r["source"])) for r in rows("ya_late_fee")
        ),
        tax_rows=tuple(
            TaxBracketRow(
                _date(r["valid_from"]),
                _dec(r["lower_bound"]),
                None if r["upper_bound"] is None else _dec(r["upper_bound"]),
                _dec(r["rate"]),
                _dec(r["quick_deduction"]),
                str(r["source"]),
            )
            for r in rows("ya_tax_bracket")
        ),
        transition_rows=tuple(
            TransitionRow(_date(r["from_date"]), _date(r["to_date"]), _dec(r["share"]), str(r["source"]))
            for r in rows("ya_transition_share")
        ),
        param_rows=tuple(
            ParamRow(str(r["code"]), _date(r["valid_from"]), str(r["value"]), str(r["source"]))
            for r in rows("ya_param")
        ),
    )


async def _all(conn: ReadConnection, query: str, params: Sequence[Any]) -> list[Row]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


def average_index(params: RegionParams, bases: Sequence[tuple[int, Decimal]]) -> tuple[Decimal, int]:
    """平均缴费指数 over ``(period, base)`` rows and the number of distinct months (as the core computes it)."""
    if not bases:
        return ZERO, 0
    total = sum((base / params.bound_wage(Period.parse(p)) for p, base in bases), Decimal(0))
    months = len({p for p, _ in bases})
    return (total / len(bases)).quantize(INDEX_PLACES, ROUND_HALF_UP), months


def deemed_index(params: RegionParams, position: str | None, on: date) -> Decimal:
    """视同缴费指数 of the post (ya_param ``DEEMED_INDEX_<post>``), the region's default for an unlisted post."""
    try:
        return Decimal(params.param(f"DEEMED_INDEX_{position or 'DEFAULT'}", on))
    except ParameterMissing:
        return Decimal(params.param("DEEMED_INDEX_DEFAULT", on))


async def person_history(ctx: ReadContext, person_id: int, *, today: date) -> EstimateInputs:
    """The estimator's inputs for ``person_id``. Scope ``account:read``. Raises NotFound (``NoHistory`` when
    no account year is closed) and ``ParameterMissing`` when the region lacks a parameter."""
    action = "person.estimate"
    facts = (await repo.facts_many(ctx.conn, [person_id])).get(person_id)
    if rules.person_grant(ctx.subject, Scope.ACCOUNT_READ, facts) is None:
        await ctx.audit.record(ctx.caller, action, "person", str(person_id), "not_found")
        raise NotFound()
    person = (await repo.overview_many(ctx.conn, [person_id]))[person_id]
    await ctx.audit.record(ctx.caller, action, "person", str(person_id), "ok")
    region = person["region_code"] or ""
    params = await region_params(ctx.conn, region)

    accounts = await _all(
        ctx.conn, "select account, year, closing from account_year where person_id = %s order by year", (person_id,)
    )
    if not accounts or person["birth_date"] is None:
        raise NoHistory()
    balance_year = max(int(r["year"]) for r in accounts)
    closing = {r["account"]: Decimal(r["closing"] or 0) for r in accounts if int(r["year"]) == balance_year}

    basic_rows = await _all(
        ctx.conn,
        "select period, base, declared_wage from contribution_month where person_id = %s and insurance = %s "
        "and kind is distinct from %s order by period, detail_id",
        (person_id, BASIC_AAE140, RETURN_KIND),
    )
    closed = [(int(r["period"]), Decimal(r["base"])) for r in basic_rows if int(r["period"]) <= balance_year * 100 + 12]
    z, paid_months = average_index(params, closed)
    wages = [Decimal(r["declared_wage"] or r["base"] or 0) for r in basic_rows]
    insured = await _all(
        ctx.conn,
        "select deemed_months from person_insurance where person_id = %s and insurance = %s",
        (person_id, BASIC_AAE140),
    )
    position = person["position_level"]
    sex = str(person["sex"] or "")
    history = History(
        birth=person["birth_date"],
        sex=sex,
        balance_year=balance_year,
        account_balance=closing.get("BASIC", ZERO),
        annuity_balance=closing.get("ANNUITY", ZERO),
        deemed_months=int(insured[0]["deemed_months"] or 0) if insured else 0,
        paid_months=paid_months,
        average_index=z,
        deemed_index=deemed_index(params, position, today),
        current_wage=wages[-1] if wages else ZERO,
        female_original_age=50 if sex == "2" and position == WORKER_POSITION else 55,
    )
    return EstimateInputs(params, history, bool(person["retired"]), position)
