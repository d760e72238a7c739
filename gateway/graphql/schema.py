# strawberry's ``field(...)`` decorator factory is typed as returning Any (its mypy plugin would fix it, but
# the plugin is not configured for this project); the resolvers below are fully annotated themselves.
# mypy: disable-error-code="untyped-decorator"
"""The GraphQL schema: every resolver calls the same service function as its REST route.

``person(id)`` and ``unit(id)`` only name a record; each field below checks access, reads, masks and
audits through the service, so a field of someone else's record fails exactly like a missing one.
Hardening: depth, alias and token limits, a cache of parsed and validated documents, masked unexpected errors,
no batching (strawberry's default), introspection off in production.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated

import strawberry
from graphql.error import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionContext, Info

from gateway.graphql.context import Context
from gateway.graphql.documents import DocumentCache, Documents
from gateway.graphql.errors import ProblemErrors
from gateway.graphql.types import (
    AccountYearType,
    BenefitPaymentType,
    BenefitType,
    CardType,
    ContributionPageType,
    ContributionType,
    InsuranceType,
    PersonOverviewType,
    StatementLineType,
    UnitMonthTotalType,
    UnitOverviewType,
    to_gql,
)
from hub.errors import NotFound
from hub.persons import service as persons
from hub.units import service as units

log = logging.getLogger(__name__)

MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_TOKENS = 2000
MAX_CACHED_DOCUMENTS = 512  # distinct query texts kept parsed and validated

Ctx = Info[Context, None]


def _int_id(value: str) -> int:
    """An internal id; anything else is answered like a missing record."""
    if not (value.isascii() and value.isdigit() and 0 < len(value) <= 18):
        raise NotFound()
    return int(value)


First = Annotated[int | None, strawberry.argument(description="每页条数（1–200）")]


@strawberry.type(description="参保人：各字段分别鉴权、审计")
class PersonType:
    id: strawberry.ID

    def _pid(self) -> int:
        return _int_id(self.id)

    @strawberry.field(description="参保人基本信息（按渠道脱敏）")
    async def overview(self, info: Ctx) -> PersonOverviewType:
        return to_gql(PersonOverviewType, await info.context.overviews.load(self._pid()))

    @strawberry.field(description="参保信息")
    async def insurance(self, info: Ctx) -> list[InsuranceType]:
        res = await persons.list_insurance(info.context.read, self._pid())
        return [to_gql(InsuranceType, r) for r in res.data]

    @strawberry.field(description="缴费明细（游标分页，可按年度、险种筛选）")
    async def contributions(
        self,
        info: Ctx,
        year: int | None = None,
        insurance: str | None = None,
        first: First = None,
        after: str | None = None,
    ) -> ContributionPageType:
        page = await persons.list_contributions(
            info.context.read, self._pid(), year=year, insurance=insurance, cursor=after, limit=first
        )
        return ContributionPageType(
            items=[to_gql(ContributionType, r) for r in page.data], next_cursor=page.next_cursor
        )

    @strawberry.field(description="个人账户（BASIC 基本养老 / ANNUITY 职业年金）")
    async def accounts(self, info: Ctx, account: str | None = None) -> list[AccountYearType]:
        res = await persons.list_accounts(info.context.read, self._pid(), account)
        return [to_gql(AccountYearType, r) for r in res.data]

    @strawberry.field(description="养老待遇")
    async def benefit(self, info: Ctx) -> BenefitType | None:
        res = await persons.get_benefit(info.context.read, self._pid())
        return to_gql(BenefitType, res.data) if res.data else None

    @strawberry.field(description="待遇发放记录")
    async def payments(self, info: Ctx, year: int | None = None) -> list[BenefitPaymentType]:
        res = await persons.list_payments(info.context.read, self._pid(), year)
        return [to_gql(BenefitPaymentType, r) for r in res.data]

    @strawberry.field(description="社会保障卡")
    async def card(self, info: Ctx) -> CardType | None:
        res = await persons.get_card(info.context.read, self._pid())
        return to_gql(CardType, res.data) if res.data else None

    @strawberry.field(description="个人权益记录")
    async def rights_statement(self, info: Ctx, year: int | None = None) -> list[StatementLineType]:
        res = await persons.get_rights_statement(info.context.read, self._pid(), year)
        return [to_gql(StatementLineType, r) for r in res.data]


@strawberry.type
class RosterEntryType:
    relation_id: int
    person_id: int | None
    name: str | None
    id_number: str | None
    start_date: str | None
    end_date: str | None

    @strawberry.field(description="该人员（其字段各自鉴权）")
    def person(self) -> PersonType | None:
        return PersonType(id=strawberry.ID(str(self.person_id))) if self.person_id is not None else None


@strawberry.type
class RosterPageType:
    items: list[RosterEntryType]
    next_cursor: str | None


@strawberry.type(description="参保单位：各字段分别鉴权、审计")
class UnitType:
    id: strawberry.ID

    @strawberry.field(description="单位基本信息")
    async def overview(self, info: Ctx) -> UnitOverviewType:
        res = await units.get_overview(info.context.read, _int_id(self.id))
        return to_gql(UnitOverviewType, res.data)

    @strawberry.field(description="在册名单（游标分页）")
    async def roster(self, info: Ctx, first: First = None, after: str | None = None) -> RosterPageType:
        page = await units.list_roster(info.context.read, _int_id(self.id), cursor=after, limit=first)
        items = [
            RosterEntryType(
                relation_id=r.relation_id,
                person_id=r.person_id,
                name=r.name,
                id_number=r.id_number,
                start_date=r.start_date.isoformat() if r.start_date else None,
                end_date=r.end_date.isoformat() if r.end_date else None,
            )
            for r in page.data
        ]
        return RosterPageType(items=items, next_cursor=page.next_cursor)

    @strawberry.field(description="单位月度缴费汇总")
    async def month_totals(
        self, info: Ctx, year: int | None = None, insurance: str | None = None
    ) -> list[UnitMonthTotalType]:
        res = await units.list_month_totals(info.context.read, _int_id(self.id), year=year, insurance=insurance)
        return [to_gql(UnitMonthTotalType, r) for r in res.data]


@strawberry.type
class Query:
    @strawberry.field(description="本次查询反映的同步位置（核心快照）")
    def as_of(self, info: Ctx) -> str:
        return info.context.read.as_of

    @strawberry.field(description="按个人编号指定参保人")
    def person(self, id: strawberry.ID) -> PersonType:
        return PersonType(id=id)

    @strawberry.field(description="按单位编号指定参保单位")
    def unit(self, id: strawberry.ID) -> UnitType:
        return UnitType(id=id)


class HubSchema(strawberry.Schema):
    """Logs only what needs a look: unexpected errors are logged (masked) by ProblemErrors already."""

    documents: Documents | None = None  # the parsed and validated documents (set by build_schema)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if error.original_error is None and not error.extensions:
                log.info("graphql request refused: %s", error.message[:200])


def build_schema(*, production: bool) -> strawberry.Schema:
    # The depth and alias limiters build a new rule class per instance: their rule classes are built once,
    # here, and validated with through one cache of parsed and validated documents per query text.
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    documents = Documents(rules=tuple(rules), max_tokens=MAX_TOKENS, max_entries=MAX_CACHED_DOCUMENTS)
    # Factories, not instances: a fresh extension per request (the cache is shared).
    extensions: list[Callable[[], SchemaExtension]] = [partial(DocumentCache, documents), ProblemErrors]
    schema = HubSchema(query=Query, extensions=extensions)
    schema.documents = documents
    return schema
