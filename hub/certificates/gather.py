"""What a certificate states, read from the query store for a caller who may have it.

A person gets their own certificates; unit operators their unit's 单位参保证明; agency staff those of
their 统筹区 (``hub.access.rules``). A refused and a missing record raise the same ``NotFound``; each
call writes one audit record. The content is read unmasked (a certificate names its holder in full),
masking applies only to the copy the public verification page shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row

from hub.access import rules
from hub.access.context import ReadContext
from hub.access.scopes import Scope
from hub.certificates import content as c
from hub.errors import NotFound
from hub.persons import repository as persons_repo
from hub.units import repository as units_repo

Row = dict[str, Any]


async def _all(ctx: ReadContext, query: str, params: Sequence[Any]) -> list[Row]:
    cur = ctx.conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def _names(ctx: ReadContext, code_type: str) -> dict[str, str]:
    rows = await _all(ctx, "select value, name from code_table where code_type = %s", (code_type,))
    return {r["value"]: r["name"] for r in rows}


def _label(names: dict[str, str], code: Any) -> str:
    """The display name of a code, or the code itself when the code table lacks it."""
    return names.get(str(code)) or str(code)


async def _person(ctx: ReadContext, scope: Scope, action: str, person_id: int) -> Row:
    facts = (await persons_repo.facts_many(ctx.conn, [person_id])).get(person_id)
    if rules.person_grant(ctx.subject, scope, facts) is None:
        await ctx.audit.record(ctx.caller, action, "person", str(person_id), "not_found")
        raise NotFound()
    return (await persons_repo.overview_many(ctx.conn, [person_id]))[person_id]


async def person_certificate(ctx: ReadContext, person_id: int, *, as_of: date) -> c.Content:
    """个人参保证明 of ``person_id``. Scope ``person:read``. Raises NotFound."""
    action = "certificate.person"
    person = await _person(ctx, Scope.PERSON_READ, action, person_id)
    insurance_names, statuses = await _names(ctx, "AAE140"), await _names(ctx, "AAC031")
    insured = await persons_repo.insurance(ctx.conn, person_id)
    totals = {
        r["insurance"]: r
        for r in await _all(
            ctx,
            "select insurance, count(distinct period) filter (where paid) as paid_months, "
            "max(period) filter (where paid) as paid_through from contribution_month where person_id = %s "
            "group by insurance",
            (person_id,),
        )
    }
    unit_ids = [r["unit_id"] for r in insured if r["unit_id"] is not None]
    units = await units_repo.overview_many(ctx.conn, unit_ids) if unit_ids else {}
    lines = [
        c.InsuranceLine(
            insurance=_label(insurance_names, r["insurance"]),
            status=statuses.get(r["pay_status"] or "", r["pay_status"] or "—"),
            first_period=r["first_period"],
            paid_months=int(totals.get(r["insurance"], {}).get("paid_months") or 0),
            paid_through=totals.get(r["insurance"], {}).get("paid_through"),
            unit_name=(units.get(r["unit_id"]) or {}).get("name") or "—",
        )
        for r in insured
    ]
    if not lines:
        await ctx.audit.record(ctx.caller, action, "person", str(person_id), "not_found")
        raise NotFound("未查询到参保记录，无法出具参保证明")
    await ctx.audit.record(ctx.caller, action, "person", str(person_id), "ok")
    return c.person_certificate(
        person_id=person_id,
        name=person["name"] or "",
        id_number=person["id_number"] or "",
        region=person["region_code"] or "",
        insurances=lines,
        as_of=as_of,
    )


async def rights_statement(ctx: ReadContext, person_id: int, year: int, *, as_of: date) -> c.Content:
    """个人权益记录单 of one year. Scope ``statement:read``. Raises NotFound (also for a year without records)."""
    action = "certificate.statement"
    person = await _person(ctx, Scope.STATEMENT_READ, action, person_id)
    insurance_names = await _names(ctx, "AAE140")
    rows = await persons_repo.rights_statement(ctx.conn, person_id, year)
    closing = {
        r["account"]: r["closing"]
        for r in await _all(
            ctx, "select account, closing from account_year where person_id = %s and year = %s", (person_id, year)
        )
    }
    annuity_code = next((v for v, name in insurance_names.items() if name == "职业年金"), None)
    if not rows:
        await ctx.audit.record(ctx.caller, action, "person", str(person_id), "not_found")
        raise NotFound(f"未查询到{year}年度的权益记录")
    lines = [
        c.StatementYear(
            insurance=_label(insurance_names, r["insurance"]),
            months=int(r["rows"]),
            base_total=Decimal(r["base_total"]),
            unit_amount=Decimal(r["unit_amount"]),
            person_amount=Decimal(r["person_amount"]),
            to_account=Decimal(r["to_account"]),
            arrears=Decimal(r["arrears"]),
            # account_year.account in the store: BASIC (core ic20 account 1) or ANNUITY (account 2)
            year_end_balance=closing.get("ANNUITY" if r["insurance"] == annuity_code else "BASIC"),
        )
        for r in rows
    ]
    await ctx.audit.record(ctx.caller, action, "person", str(person_id), "ok")
    return c.rights_statement(
        person_id=person_id,
        name=person["name"] or "",
        id_number=person["id_number"] or "",
        year=year,
        lines=lines,
        as_of=as_of,
    )


async def unit_certificate(ctx: ReadContext, unit_id: int, *, as_of: date) -> c.Content:
    """单位参保证明. Scope ``unit:read`` (the unit's operators or staff of its 统筹区). Raises NotFound."""
    action = "certificate.unit"
    facts = (await units_repo.facts_many(ctx.conn, [unit_id])).get(unit_id)
    if not rules.unit_allowed(ctx.subject, facts):
        await ctx.audit.record(ctx.caller, action, "unit", str(unit_id), "not_found")
        raise NotFound()
    unit = (await units_repo.overview_many(ctx.conn, [unit_id]))[unit_id]
    insurance_names, statuses = await _names(ctx, "AAE140"), await _names(ctx, "AAB051")
    totals = await _all(
        ctx,
        "select insurance, min(period) as first_period, max(period) filter (where paid > 0) as paid_through, "
        "sum(arrears) as arrears from unit_month_total where unit_id = %s group by insurance order by insurance",
        (unit_id,),
    )
    insured = await _all(
        ctx,
        "select count(distinct r.person_id) as n from unit_roster r join person_overview p using (person_id) "
        "where r.unit_id = %s and (r.end_date is null or r.end_date >= %s) and not coalesce(p.retired, false)",
        (unit_id, as_of),
    )
    if not totals:
        await ctx.audit.record(ctx.caller, action, "unit", str(unit_id), "not_found")
        raise NotFound("未查询到单位参保缴费记录，无法出具参保证明")
    await ctx.audit.record(ctx.caller, action, "unit", str(unit_id), "ok")
    status = statuses.get(unit["status"] or "", unit["status"] or "—")
    return c.unit_certificate(
        unit_id=unit_id,
        unit_name=unit["name"] or "",
        credit_code=unit["uscc"] or "",
        insured_count=int(insured[0]["n"]),
        insurances=[
            c.InsuranceLine(
                insurance=_label(insurance_names, t["insurance"]),
                status=status,
                first_period=t["first_period"],
                paid_months=0,
                paid_through=t["paid_through"],
                arrears=Decimal(t["arrears"] or 0),
            )
            for t in totals
        ],
        as_of=as_of,
    )
