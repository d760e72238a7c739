"""REST: a unit's records (``/api/v1/units/{unit_id}/…``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.api.deps import Reading
from gateway.api.errors import ERROR_RESPONSES
from hub.persons.schemas import Page, Read
from hub.units import service
from hub.units.schemas import RosterEntryRead, UnitMonthTotalRead, UnitOverviewRead

router = APIRouter(prefix="/units/{unit_id}", tags=["参保单位"], responses=ERROR_RESPONSES)

UnitId = Annotated[int, Path(description="单位编号（内部编号）", ge=1, le=2**62)]


@router.get("/overview", summary="单位基本信息")
async def get_overview(ctx: Reading, unit_id: UnitId) -> Read[UnitOverviewRead]:
    """The unit's record; contact and bank account masked per channel."""
    return await service.get_overview(ctx, unit_id)


@router.get("/roster", summary="在册名单")
async def list_roster(
    ctx: Reading,
    unit_id: UnitId,
    cursor: Annotated[str | None, Query(description="分页游标", max_length=64)] = None,
    limit: Annotated[int | None, Query(description="每页条数（1–200，默认50）", ge=1, le=200)] = None,
) -> Page[RosterEntryRead]:
    """Every person–unit relation of the unit, paged by cursor; names and ID numbers masked per channel."""
    return await service.list_roster(ctx, unit_id, cursor=cursor, limit=limit)


@router.get("/month-totals", summary="单位月度缴费汇总")
async def list_month_totals(
    ctx: Reading,
    unit_id: UnitId,
    year: Annotated[int | None, Query(description="年度", ge=1990, le=2100)] = None,
    insurance: Annotated[str | None, Query(description="险种类型", pattern=r"^\d{3}$")] = None,
) -> Read[list[UnitMonthTotalRead]]:
    """Per month and 险种: rows, bases, amounts, due, paid, 虚账 unit share and arrears."""
    return await service.list_month_totals(ctx, unit_id, year=year, insurance=insurance)
