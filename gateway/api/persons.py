"""REST: a person's records (``/api/v1/persons/{person_id}/…``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.api.deps import Reading
from gateway.api.errors import ERROR_RESPONSES
from hub.persons import service
from hub.persons.schemas import (
    AccountYearRead,
    BenefitPaymentRead,
    BenefitRead,
    CardRead,
    ContributionRead,
    InsuranceRead,
    Page,
    PersonOverviewRead,
    Read,
    StatementLineRead,
)

router = APIRouter(prefix="/persons/{person_id}", tags=["参保人"], responses=ERROR_RESPONSES)

PersonId = Annotated[int, Path(description="个人编号（内部编号，非身份证号）", ge=1, le=2**62)]
Year = Annotated[int | None, Query(description="年度", ge=1990, le=2100)]
Insurance = Annotated[str | None, Query(description="险种类型，如 120", max_length=8, pattern=r"^\d{3}$")]
Cursor = Annotated[str | None, Query(description="分页游标（上一页的 next_cursor）", max_length=64)]
Limit = Annotated[int | None, Query(description="每页条数（1–200，默认50）", ge=1, le=200)]


@router.get("/overview", summary="参保人基本信息")
async def get_overview(ctx: Reading, person_id: PersonId) -> Read[PersonOverviewRead]:
    """The person's basic record; ID number, name and phone masked as the caller's channel requires."""
    return await service.get_overview(ctx, person_id)


@router.get("/insurance", summary="参保信息")
async def list_insurance(ctx: Reading, person_id: PersonId) -> Read[list[InsuranceRead]]:
    """Insurance per 险种 (status, start, 缴费状态, 视同缴费月数)."""
    return await service.list_insurance(ctx, person_id)


@router.get("/contributions", summary="缴费明细")
async def list_contributions(
    ctx: Reading,
    person_id: PersonId,
    year: Year = None,
    insurance: Insurance = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[ContributionRead]:
    """Monthly contribution detail, newest first, paged by cursor; filter by year and 险种."""
    return await service.list_contributions(ctx, person_id, year=year, insurance=insurance, cursor=cursor, limit=limit)


@router.get("/accounts", summary="个人账户（基本养老与职业年金）")
async def list_accounts(
    ctx: Reading,
    person_id: PersonId,
    account: Annotated[str | None, Query(description="BASIC 或 ANNUITY；缺省两者", pattern="^(BASIC|ANNUITY)$")] = None,
) -> Read[list[AccountYearRead]]:
    """Yearly account balances: opening, credited, interest, closing and the 记账利率."""
    return await service.list_accounts(ctx, person_id, account)


@router.get("/benefit", summary="养老待遇")
async def get_benefit(ctx: Reading, person_id: PersonId) -> Read[BenefitRead | None]:
    """The approved benefit and its items; ``data`` is null when the person draws none."""
    return await service.get_benefit(ctx, person_id)


@router.get("/benefit/payments", summary="待遇发放记录")
async def list_payments(ctx: Reading, person_id: PersonId, year: Year = None) -> Read[list[BenefitPaymentRead]]:
    """Monthly benefit payments, optionally of one year."""
    return await service.list_payments(ctx, person_id, year)


@router.get("/card", summary="社会保障卡")
async def get_card(ctx: Reading, person_id: PersonId) -> Read[CardRead | None]:
    """The social-security card: number (masked per channel), status, bank, issue date."""
    return await service.get_card(ctx, person_id)


@router.get("/rights-statement", summary="个人权益记录")
async def get_rights_statement(ctx: Reading, person_id: PersonId, year: Year = None) -> Read[list[StatementLineRead]]:
    """Yearly sums per 险种: months, bases, unit and personal amounts, credited, due, paid, arrears."""
    return await service.get_rights_statement(ctx, person_id, year)
