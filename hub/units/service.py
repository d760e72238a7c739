"""Reading a unit's records. Scope ``unit:read``: the unit's own operators, or agency staff of its 统筹区.

A refused and a missing unit raise the same ``NotFound`` on the same path; one audit record per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access import cache, rules
from hub.access.context import ReadContext
from hub.errors import NotFound
from hub.persons import paging
from hub.persons.schemas import Page, Read
from hub.units import repository as repo
from hub.units.schemas import RosterEntryRead, UnitMonthTotalRead, UnitOverviewRead


async def _check(ctx: ReadContext, action: str, unit_id: int) -> None:
    facts = (await repo.facts_many(ctx.conn, [unit_id])).get(unit_id)
    if not rules.unit_allowed(ctx.subject, facts):
        await ctx.audit.record(ctx.caller, action, "unit", str(unit_id), "not_found")
        raise NotFound()


async def _overviews(ctx: ReadContext, unit_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    # After the access check only: the ownership query stays uncached (refused and missing look alike).
    return await cache.many(ctx, "unit", "overview", unit_ids, lambda ids: repo.overview_many(ctx.conn, ids))


async def _done(ctx: ReadContext, action: str, unit_id: int) -> None:
    await ctx.audit.record(ctx.caller, action, "unit", str(unit_id), "ok")


async def get_overview(ctx: ReadContext, unit_id: int) -> Read[UnitOverviewRead]:
    """单位基本信息; contact and bank account masked per channel. Raises NotFound."""
    await _check(ctx, "unit.overview", unit_id)
    row = (await _overviews(ctx, [unit_id]))[unit_id]
    await _done(ctx, "unit.overview", unit_id)
    m = ctx.mask
    data = UnitOverviewRead.model_validate(
        {
            **row,
            "contact_name": m.name(row["contact_name"]),
            "contact_phone": m.phone(row["contact_phone"]),
            "bank_account": m.bank_card(row["bank_account"]),
        }
    )
    return Read(as_of=ctx.as_of, data=data)


async def list_roster(
    ctx: ReadContext, unit_id: int, *, cursor: str | None = None, limit: int | None = None
) -> Page[RosterEntryRead]:
    """在册名单 (every person–unit relation), paged by relation id; names and ID numbers masked per channel."""
    n = paging.clamp(limit)
    after = paging.decode(cursor, 1)
    await _check(ctx, "unit.roster", unit_id)
    rows = await repo.roster(ctx.conn, unit_id, after=after[0] if after else None, limit=n + 1)
    await _done(ctx, "unit.roster", unit_id)
    more = len(rows) > n
    rows = rows[:n]
    m = ctx.mask
    data = [
        RosterEntryRead.model_validate({**r, "name": m.name(r["name"]), "id_number": m.id_number(r["id_number"])})
        for r in rows
    ]
    return Page(as_of=ctx.as_of, data=data, next_cursor=paging.encode(rows[-1]["relation_id"]) if more else None)


async def list_month_totals(
    ctx: ReadContext, unit_id: int, *, year: int | None = None, insurance: str | None = None
) -> Read[list[UnitMonthTotalRead]]:
    """单位月度缴费汇总 per 险种, newest first; optionally one year or one 险种."""
    paging.year(year)
    paging.insurance(insurance)
    await _check(ctx, "unit.month_totals", unit_id)
    rows = await repo.month_totals(ctx.conn, unit_id, year, insurance)
    await _done(ctx, "unit.month_totals", unit_id)
    return Read(as_of=ctx.as_of, data=[UnitMonthTotalRead.model_validate(r) for r in rows])
