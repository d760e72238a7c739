"""What the reference core decides, using hub/rules: contribution plans, payment arrival, yearly account
crediting and benefit approval. Each function works inside the caller's transaction (it never commits),
so a command is applied completely or not at all; the change-log triggers record every row it writes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from core import params as params_mod
from core.benefits import BenefitDecision, BenefitInputs, decide
from hub.rules.interest import InterestMethod, credit_year
from hub.rules.money import to_fen
from hub.rules.params import ANNUITY_AAE140, RegionParams, plan_month
from hub.rules.period import Period

BASIC = "120"
INDEX_PLACES = Decimal("0.0001")


class CoreError(Exception):
    """A command the core refuses; ``title`` is shown to the user."""

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.title = title


def _one(conn: psycopg.Connection[Any], sql: str, *args: object) -> tuple[Any, ...]:
    row = conn.execute(sql, args).fetchone()
    if row is None:
        raise CoreError("记录不存在")
    return tuple(row)


def person_region(conn: psycopg.Connection[Any], person_id: int) -> str:
    return str(_one(conn, "select aaa027 from core.ac01 where aac001 = %s", person_id)[0])


def plan_contributions(
    conn: psycopg.Connection[Any],
    person_id: int,
    unit_id: int,
    first: Period,
    last: Period,
    declared_wage: Decimal,
    *,
    kind: str = "10",
) -> list[int]:
    """Write the monthly contribution detail (ac43, unpaid) of a person for ``first``..``last``.

    One row per month and per 险种 the person is insured in (ac02). The base is the declared wage
    clamped to the period's bounds; amounts follow the period's rates (hub.rules.params.plan_month).
    Returns the new detail ids. Raises ParameterMissing when a period has no parameters.
    """
    if last < first:
        raise CoreError("缴费期间的结束月份早于开始月份")
    funding = str(_one(conn, "select funding from core.ab01 where aab001 = %s", unit_id)[0])
    params = params_mod.load(conn, person_region(conn, person_id))
    insurances = [
        r[0] for r in conn.execute("select aae140 from core.ac02 where aac001 = %s order by 1", (person_id,)).fetchall()
    ]
    if not insurances:
        raise CoreError("该人员未参保，不能核定缴费")
    rows = []
    for period in Period.range(first, last):
        for aae140 in insurances:
            c = plan_month(params, aae140, period, declared_wage, funding=funding)
            rows.append(
                (
                    person_id,
                    unit_id,
                    aae140,
                    int(period),
                    kind,
                    declared_wage,
                    c.base,
                    c.unit,
                    c.person,
                    c.to_account,
                    c.real_account,
                )
            )
    ids = []
    with conn.cursor() as cur:
        for row in rows:
            cur.execute(
                "insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, "
                "aae022, to_account, real_account, aae078) "
                "values (nextval('core.ac43_detail_seq'), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '0') "
                "returning detail_id",
                row,
            )
            got = cur.fetchone()
            assert got is not None
            ids.append(int(got[0]))
    return ids


def record_arrival(conn: psycopg.Connection[Any], unit_id: int, period: Period, paid_on: date) -> int:
    """Record the payment arrival (到账) of a unit's month, as fed back by the tax bureau; returns rows."""
    cur = conn.execute(
        "update core.ac43 set aae078 = '1', paid_on = %s where aab001 = %s and aae003 = %s and aae078 = '0'",
        (paid_on, unit_id, int(period)),
    )
    return cur.rowcount


def credit_accounts(conn: psycopg.Connection[Any], person_id: int, year: int) -> dict[str, tuple[Decimal, Decimal]]:
    """Credit one year of the basic and annuity accounts (ic20) with interest; returns (interest, closing).

    Credited is what arrived (aae078 = '1') in the year; the opening is the prior year's closing; the
    rate is the year's 记账利率 and the method the region's INTEREST_METHOD parameter (DOMAIN.md §1.4).
    """
    params = params_mod.load(conn, person_region(conn, person_id))
    on = date(year, 12, 31)
    annuity = params.param(ANNUITY_AAE140, on)
    method = params.param("INTEREST_METHOD", on)
    rate = params.interest(year)
    result = {}
    for account, aae140 in (("1", BASIC), ("2", annuity)):
        credited_row = _one(
            conn,
            "select coalesce(sum(to_account), 0) from core.ac43 where aac001 = %s and aae140 = %s "
            "and aae003 between %s and %s and aae078 = '1'",
            person_id,
            aae140,
            year * 100 + 1,
            year * 100 + 12,
        )
        opening_row = conn.execute(
            "select aae240 from core.ic20 where aac001 = %s and account = %s and aae001 = %s",
            (person_id, account, year - 1),
        ).fetchone()
        opening = Decimal(opening_row[0]) if opening_row else to_fen(Decimal(0))
        credited = to_fen(Decimal(credited_row[0]))
        interest, closing = credit_year(opening, credited, rate, InterestMethod(method))
        conn.execute(
            "insert into core.ic20 (aac001, aae001, account, opening, credited, aae269, aae240, rate) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (aac001, aae001, account) do update set "
            "opening = excluded.opening, credited = excluded.credited, aae269 = excluded.aae269, "
            "aae240 = excluded.aae240, rate = excluded.rate",
            (person_id, year, account, opening, credited, interest, closing, rate),
        )
        result[account] = (interest, closing)
    return result


def average_index(conn: psycopg.Connection[Any], params: RegionParams, person_id: int) -> tuple[Decimal, int]:
    """本人平均缴费指数 over the basic-pension months: mean of base / the period's bound wage; and the months."""
    rows = conn.execute(
        "select aae003, aae180 from core.ac43 where aac001 = %s and aae140 = %s and aaa115 <> '21' order by 1",
        (person_id, BASIC),
    ).fetchall()
    if not rows:
        return Decimal(0), 0
    total = sum((Decimal(base) / params.bound_wage(Period.parse(p)) for p, base in rows), Decimal(0))
    months = len({p for p, _ in rows})
    return (total / len(rows)).quantize(INDEX_PLACES), months


def approve_benefit(
    conn: psycopg.Connection[Any],
    person_id: int,
    retire_date: date,
    *,
    old_method_amount: Decimal | None = None,
) -> BenefitDecision:
    """Approve (核定) the benefit of a person retiring on ``retire_date`` and record it (ic60, ic61).

    Marks the person retired (ac01) and stops contributions (ac02.aac031 = 3). Raises CoreError for an
    unknown person or a retirement before birth; ParameterMissing when a parameter is not configured.
    """
    birth, position = _one(conn, "select aac006, position_level from core.ac01 where aac001 = %s", person_id)
    if retire_date <= birth:
        raise CoreError("退休日期不能早于出生日期")
    params = params_mod.load(conn, person_region(conn, person_id))
    age_months = (retire_date.year - birth.year) * 12 + retire_date.month - birth.month
    z, paid_months = average_index(conn, params, person_id)
    deemed = conn.execute(
        "select deemed_months from core.ac02 where aac001 = %s and aae140 = %s", (person_id, BASIC)
    ).fetchone()
    balances = dict(
        conn.execute(
            "select distinct on (account) account, aae240 from core.ic20 where aac001 = %s and aae001 < %s "
            "order by account, aae001 desc",
            (person_id, retire_date.year + 1),
        ).fetchall()
    )
    deemed_index = Decimal(params.param(f"DEEMED_INDEX_{position or 'DEFAULT'}", retire_date))
    decision = decide(
        params,
        BenefitInputs(
            retire_date=retire_date,
            age_months=age_months,
            average_index=z,
            paid_months=paid_months,
            deemed_months=int(deemed[0]) if deemed else 0,
            deemed_index=deemed_index,
            account_balance=Decimal(balances.get("1", Decimal("0.00"))),
            annuity_balance=Decimal(balances.get("2", Decimal("0.00"))),
            old_method_amount=old_method_amount,
        ),
    )
    conn.execute("delete from core.ic61 where aac001 = %s", (person_id,))
    conn.execute(
        "insert into core.ic60 (aac001, aic162, method, monthly_total, monthly_paid, annuity_monthly, approved_on) "
        "values (%s, %s, %s, %s, %s, %s, current_date) on conflict (aac001) do update set aic162 = excluded.aic162, "
        "method = excluded.method, monthly_total = excluded.monthly_total, monthly_paid = excluded.monthly_paid, "
        "annuity_monthly = excluded.annuity_monthly, approved_on = excluded.approved_on",
        (
            person_id,
            retire_date,
            decision.method,
            decision.approved,
            decision.paid_by_agency,
            decision.benefit.annuity_after_tax,
        ),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "insert into core.ic61 (aac001, item, amount) values (%s, %s, %s)",
            [(person_id, item, amount) for item, amount in decision.items],
        )
    conn.execute("update core.ac01 set aac084 = '1', aic162 = %s where aac001 = %s", (retire_date, person_id))
    conn.execute("update core.ac02 set aac031 = '3' where aac001 = %s", (person_id,))
    return decision
