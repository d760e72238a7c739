"""The app's routes under ``/app/v1``: public (version, content, agencies, ministry listings) and the
logged-in person's own records and inbox.

The caller is resolved by the authentication dependency the composition root hands to ``router``; the
app operations then require a person logged in through the app (channel ``app``). A person only ever
reads themself: no route takes a person id.
"""

# No ``from __future__ import annotations``: the dependencies below are built inside ``router`` and
# FastAPI must see their annotations as objects, not as names it cannot resolve from the module.
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from psycopg import AsyncConnection
from starlette.responses import Response

from hub.access import consistency
from hub.access.cache import CachedReadContext
from hub.access.context import Caller, ReadContext
from hub.access.ratelimit import RateLimiter
from hub.access.subject import Subject
from hub.content import agencies, articles, inbox, versions
from hub.db import Pools
from hub.errors import ValidationFailed
from hub.http.request_id import request_id_of
from hub.persons import paging
from hub.persons import service as persons
from mobile_api import etag
from mobile_api.deps import require_app_person
from mobile_api.errors import PERSONAL_RESPONSES, PUBLIC_RESPONSES
from mobile_api.ministry import MinistryClient
from mobile_api.schemas import (
    AccountItem,
    Agencies,
    Card,
    ContentPage,
    ContributionItem,
    Exam,
    Inbox,
    InsuranceItem,
    Job,
    JobFair,
    Marked,
    Me,
    MinistryPage,
    Personal,
    PersonalPage,
    RealName,
    Unread,
)

Authenticate = Callable[..., Awaitable[Subject]]

Cursor = Annotated[str | None, Query(description="分页游标（上一页的 next_cursor）", max_length=64)]
Limit = Annotated[int, Query(description="每页条数（1–50，默认20）", ge=1, le=50)]
Year = Annotated[int | None, Query(description="年度", ge=1990, le=2100)]

CONTENT_PATHS = {
    articles.Kind.POLICY: ("/content/policies", "政策资讯"),
    articles.Kind.NEWS: ("/content/news", "热点新闻"),
    articles.Kind.AGENCY_INTRO: ("/content/agency-intros", "机构介绍"),
}


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _limit(request: Request, route_class: str, identities: dict[str, str | None]) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.check(route_class, identities)


async def anonymous(request: Request) -> None:
    """Public operations: limited per client address."""
    await _limit(request, "anonymous", {"ip": _ip(request)})


@asynccontextmanager
async def _hub_conn(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    pools: Pools = request.app.state.pools
    async with pools.hub.connection() as conn:
        yield conn


@asynccontextmanager
async def _person_read(request: Request, subject: Subject) -> AsyncIterator[ReadContext]:
    pools: Pools = request.app.state.pools
    async with consistency.open_read(pools, None) as (conn, snap):
        yield CachedReadContext(
            conn,
            Caller(subject, request_id_of(request), _ip(request), "query"),
            request.app.state.audit,
            snap.as_of,
            event_id=snap.event_id,
            cache=getattr(request.app.state, "read_cache", None),
        )


def _me(subject: Subject) -> int:
    assert subject.person_id is not None  # guaranteed by the app-person dependency
    return subject.person_id


def _cursor_page(cursor: str | None) -> int:
    page = paging.decode(cursor, 1)
    if page is None:
        return 1
    if not 1 <= page[0] <= 10_000:
        raise ValidationFailed("分页游标无效")
    return page[0]


def router(authenticate: Authenticate) -> APIRouter:
    """The ``/app/v1`` routes; ``authenticate`` resolves the caller (401 when there is none)."""

    async def app_person(request: Request, subject: Annotated[Subject, Depends(authenticate)]) -> Subject:
        require_app_person(subject)
        await _limit(request, "read", {"client": subject.client_id, "subject": subject.account_id, "ip": _ip(request)})
        return subject

    AppPerson = Annotated[Subject, Depends(app_person)]
    public = APIRouter(responses=PUBLIC_RESPONSES, dependencies=[Depends(anonymous)])
    personal = APIRouter(responses=PERSONAL_RESPONSES)

    # 基础 ------------------------------------------------------------------------------------------
    @public.get("/version", tags=["掌上12333·基础"], summary="版本检查", response_model=versions.VersionCheck)
    async def version_check(
        request: Request,
        platform: Annotated[versions.Platform, Query(description="android / ios / harmony")],
        current: Annotated[str, Query(description="客户端当前版本号，如 3.2.1", max_length=19)],
    ) -> Response:
        """Latest and minimum supported version of the platform and whether this client must update."""
        async with _hub_conn(request) as conn:
            row = await versions.get_version(conn, platform)
        return etag.respond(request, versions.check(row, current), private=False)

    # 平台: content -----------------------------------------------------------------------------------
    def content_list(kind: articles.Kind, label: str) -> Callable[..., Awaitable[Response]]:
        async def handler(request: Request, cursor: Cursor = None, limit: Limit = 20) -> Response:
            async with _hub_conn(request) as conn:
                items, nxt = await articles.list_published(conn, kind, cursor=cursor, limit=limit)
            return etag.respond(request, ContentPage(data=items, next_cursor=nxt), private=False)

        handler.__doc__ = f"{label}: published items, newest first (title and summary; the body by id)."
        handler.__name__ = f"list_{kind.value}"
        return handler

    for kind, (path, label) in CONTENT_PATHS.items():
        public.add_api_route(
            path, content_list(kind, label), methods=["GET"], tags=["掌上12333·平台"], summary=label,
            response_model=ContentPage,
        )  # fmt: skip

    @public.get("/content/item", tags=["掌上12333·平台"], summary="资讯详情", response_model=articles.ContentRead)
    async def get_content(
        request: Request, id: Annotated[int, Query(description="内容编号（列表中的 id）", ge=1, le=2**62)]
    ) -> Response:
        """One published item with its body; a withdrawn item is not found."""
        async with _hub_conn(request) as conn:
            item = await articles.get_published(conn, id)
        return etag.respond(request, item, private=False)

    # 平台: LBS -------------------------------------------------------------------------------------
    @public.get("/agencies/nearest", tags=["掌上12333·平台"], summary="附近经办机构", response_model=Agencies)
    async def nearest_agencies(
        request: Request,
        lat: Annotated[float, Query(description="纬度（WGS-84）", ge=-90, le=90)],
        lon: Annotated[float, Query(description="经度（WGS-84）", ge=-180, le=180)],
        limit: Annotated[int, Query(description="条数（1–20，默认5）", ge=1, le=20)] = 5,
        within_km: Annotated[float | None, Query(description="只列出此距离（公里）以内", gt=0, le=500)] = None,
    ) -> Response:
        """Agencies nearest to the coordinate, nearest first, with distance, address, hours and services."""
        async with _hub_conn(request) as conn:
            found = await agencies.nearest(conn, lat, lon, limit=limit, within_km=within_km)
        return etag.respond(request, Agencies(data=found), private=False)

    # 部端 ------------------------------------------------------------------------------------------
    def ministry(request: Request) -> MinistryClient:
        client: MinistryClient = request.app.state.ministry
        return client

    async def listing(request: Request, path: str, model: Any, params: dict[str, str | int]) -> Response:
        def validate(body: dict[str, Any]) -> tuple[list[Any], int | None]:
            items = [model.model_validate(i) for i in body["items"]]
            nxt = body.get("next_page")
            return items, (int(nxt) if nxt is not None else None)

        items, nxt = await ministry(request).get(path, params, validate)
        page = MinistryPage[model](data=items, next_cursor=paging.encode(nxt) if nxt else None)
        return etag.respond(request, page, private=False)

    @public.get("/ministry/job-fairs", tags=["掌上12333·部端"], summary="招聘会", response_model=MinistryPage[JobFair])
    async def job_fairs(request: Request, cursor: Cursor = None) -> Response:
        """Job fairs from the ministry's service (cached briefly); 503 MINISTRY_UNAVAILABLE when it is down."""
        return await listing(request, "/v1/job-fairs", JobFair, {"page": _cursor_page(cursor)})

    @public.get("/ministry/jobs", tags=["掌上12333·部端"], summary="岗位信息", response_model=MinistryPage[Job])
    async def jobs(
        request: Request,
        cursor: Cursor = None,
        keyword: Annotated[str | None, Query(description="关键词（岗位或单位）", max_length=20)] = None,
    ) -> Response:
        """Job vacancies from the ministry's service; 503 MINISTRY_UNAVAILABLE when it is down."""
        params: dict[str, str | int] = {"page": _cursor_page(cursor)}
        if keyword:
            params["keyword"] = keyword
        return await listing(request, "/v1/jobs", Job, params)

    @public.get("/ministry/exams", tags=["掌上12333·部端"], summary="公考信息", response_model=MinistryPage[Exam])
    async def exams(request: Request, cursor: Cursor = None) -> Response:
        """Civil-service and public-institution examinations; 503 MINISTRY_UNAVAILABLE when it is down."""
        return await listing(request, "/v1/exams", Exam, {"page": _cursor_page(cursor)})

    # 地方: the person's own records -----------------------------------------------------------------
    @personal.get("/me", tags=["掌上12333·地方"], summary="实名认证与基本信息", response_model=Personal[Me])
    async def me(request: Request, subject: AppPerson) -> Response:
        """The logged-in person: masked ID number and phone, 统筹区, retired or not, real-name status."""
        async with _person_read(request, subject) as ctx:
            read = await persons.get_overview(ctx, _me(subject))
        o = read.data
        data = Me(
            person_id=o.person_id,
            name=o.name,
            id_number=o.id_number,
            phone=o.phone,
            region_code=o.region_code,
            retired=o.retired,
            address=o.address,
            postal_code=o.postal_code,
            real_name=RealName(verified=True, methods=list(subject.auth_methods)),
        )
        return etag.respond(request, Personal[Me](as_of=read.as_of, data=data), private=True)

    @personal.get(
        "/me/insurance", tags=["掌上12333·地方"], summary="参保信息", response_model=Personal[list[InsuranceItem]]
    )
    async def my_insurance(request: Request, subject: AppPerson) -> Response:
        """Status per 险种."""
        async with _person_read(request, subject) as ctx:
            read = await persons.list_insurance(ctx, _me(subject))
        data = [InsuranceItem.model_validate(i.model_dump()) for i in read.data]
        return etag.respond(request, Personal[list[InsuranceItem]](as_of=read.as_of, data=data), private=True)

    @personal.get(
        "/me/contributions",
        tags=["掌上12333·地方"],
        summary="缴费信息",
        response_model=PersonalPage[ContributionItem],
    )
    async def my_contributions(
        request: Request, subject: AppPerson, year: Year = None, cursor: Cursor = None, limit: Limit = 20
    ) -> Response:
        """Month by month, newest first, paged by cursor; optionally one year."""
        async with _person_read(request, subject) as ctx:
            page = await persons.list_contributions(ctx, _me(subject), year=year, cursor=cursor, limit=limit)
        data = [
            ContributionItem(
                period=c.period,
                insurance=c.insurance,
                base=c.base,
                personal=c.personal_amount,
                unit=c.unit_amount,
                paid=c.paid,
                real_account=c.real_account,
            )
            for c in page.data
        ]
        body = PersonalPage[ContributionItem](as_of=page.as_of, data=data, next_cursor=page.next_cursor)
        return etag.respond(request, body, private=True)

    @personal.get(
        "/me/accounts", tags=["掌上12333·地方"], summary="个人账户", response_model=Personal[list[AccountItem]]
    )
    async def my_accounts(request: Request, subject: AppPerson) -> Response:
        """基本养老 and 职业年金 accounts, year by year."""
        async with _person_read(request, subject) as ctx:
            read = await persons.list_accounts(ctx, _me(subject))
        data = [AccountItem.model_validate(a.model_dump()) for a in read.data]
        return etag.respond(request, Personal[list[AccountItem]](as_of=read.as_of, data=data), private=True)

    @personal.get("/me/card", tags=["掌上12333·地方"], summary="社保卡", response_model=Personal[Card | None])
    async def my_card(request: Request, subject: AppPerson) -> Response:
        """Card status, bank and the last four characters of the card number; ``data`` null without a card."""
        async with _person_read(request, subject) as ctx:
            read = await persons.get_card(ctx, _me(subject))
        data = Card.model_validate(read.data.model_dump()) if read.data else None
        return etag.respond(request, Personal[Card | None](as_of=read.as_of, data=data), private=True)

    # 平台: inbox -----------------------------------------------------------------------------------
    @personal.get("/inbox", tags=["掌上12333·消息"], summary="消息通知", response_model=Inbox)
    async def my_inbox(
        request: Request,
        subject: AppPerson,
        cursor: Cursor = None,
        limit: Limit = 20,
        unread_only: Annotated[bool, Query(description="只看未读")] = False,
    ) -> Response:
        """The person's messages, newest first, with the unread count."""
        async with _hub_conn(request) as conn:
            items, nxt = await inbox.list_messages(
                conn, _me(subject), unread_only=unread_only, cursor=cursor, limit=limit
            )
            unread = await inbox.unread_count(conn, _me(subject))
        return etag.respond(request, Inbox(data=items, next_cursor=nxt, unread=unread), private=True)

    @personal.get("/inbox/unread-count", tags=["掌上12333·消息"], summary="未读条数", response_model=Unread)
    async def my_unread(request: Request, subject: AppPerson) -> Response:
        """How many messages are unread (for the badge)."""
        async with _hub_conn(request) as conn:
            n = await inbox.unread_count(conn, _me(subject))
        return etag.respond(request, Unread(unread=n), private=True)

    @personal.post(
        "/inbox/{message_id}/read", tags=["掌上12333·消息"], summary="标为已读", status_code=204,
        response_class=Response,
    )  # fmt: skip
    async def mark_read(
        request: Request,
        subject: AppPerson,
        message_id: Annotated[int, Path(description="消息编号", ge=1, le=2**62)],
    ) -> Response:
        """Mark one of the person's messages read; another person's message is not found."""
        async with _hub_conn(request) as conn:
            await inbox.mark_read(conn, _me(subject), message_id, now=datetime.now(UTC))
        return Response(status_code=204)

    @personal.post("/inbox/read-all", tags=["掌上12333·消息"], summary="全部标为已读", response_model=Marked)
    async def mark_all_read(request: Request, subject: AppPerson) -> Marked:
        """Mark every unread message of the person read."""
        async with _hub_conn(request) as conn:
            n = await inbox.mark_all_read(conn, _me(subject), now=datetime.now(UTC))
        return Marked(marked=n)

    root = APIRouter(prefix="/app/v1")
    root.include_router(public)
    root.include_router(personal)
    return root
