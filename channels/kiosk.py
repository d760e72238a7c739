"""自助终端 (kiosk) API under ``/kiosk/v1``: the kiosk device authenticates with its own client token; a
person starts a session with the card the kiosk read and the query PIN, or with the ID number, the PIN and
an SMS code; reads are the person's own, masked as the kiosk channel requires (stricter than a phone).

The session token travels in ``X-Kiosk-Session``; it ends after 60 s idle, when the kiosk reports the card
removed (``DELETE /kiosk/v1/session``), or at its absolute limit.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import ChannelRefused, DeviceRefused
from channels.reads import Authenticate, ReadOpener
from channels.sessions import ChannelSessions, SessionEnded
from hub.access.subject import Channel, Subject, SubjectKind
from hub.identity import pins
from hub.identity.errors import IdentityError
from hub.persons import service as persons
from hub.persons.schemas import (
    AccountYearRead,
    BenefitPaymentRead,
    BenefitRead,
    CardRead,
    ContributionRead,
    PersonOverviewRead,
    Read,
)
from hub.persons.schemas import Page as ContributionPage

SESSION_HEADER = "X-Kiosk-Session"


class CardLogin(BaseModel):
    card_number: str = Field(min_length=9, max_length=20, description="读卡器读出的社会保障卡卡号")
    pin: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$", description="查询密码")


class IdLogin(BaseModel):
    document_type: str = Field("01", max_length=4, description="证件类型")
    document_number: str = Field(min_length=6, max_length=30)
    pin: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class CodeCheck(BaseModel):
    ticket: str = Field(min_length=8, max_length=100)
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class SessionOpened(BaseModel):
    session: str = Field(description=f"放入请求头 {SESSION_HEADER}")
    idle_seconds: int


class CodeSent(BaseModel):
    ticket: str
    phone_masked: str


class SessionClosed(BaseModel):
    ended: bool


def router(authenticate: Authenticate, open_read: ReadOpener, sessions_of: Any) -> APIRouter:
    """``sessions_of(app) -> ChannelSessions`` for the kiosk; ``open_read`` reads as the session's person."""
    r = APIRouter(prefix="/kiosk/v1", tags=["自助终端"])

    async def device(request: Request) -> Subject:
        subject = await authenticate(request)
        if subject.kind is not SubjectKind.CLIENT or subject.channel is not Channel.KIOSK:
            raise DeviceRefused("仅限已登记的自助终端调用")
        return subject

    Device = Annotated[Subject, Depends(device)]

    def sessions(request: Request) -> ChannelSessions:
        found: ChannelSessions = sessions_of(request.app)
        return found

    async def person(
        request: Request, kiosk: Device, token: Annotated[str, Header(alias=SESSION_HEADER)] = ""
    ) -> Subject:
        return await run_in_threadpool(sessions(request).resolve, token, kiosk)

    Person = Annotated[Subject, Depends(person)]

    def identity(request: Request) -> Any:
        return request.app.state.identity

    @r.post("/session/card", summary="插卡 + 查询密码开始会话", response_model=SessionOpened)
    async def open_with_card(request: Request, kiosk: Device, body: CardLogin) -> SessionOpened:
        rt = identity(request)

        def work() -> Subject:
            with rt.hub() as conn, rt.core() as core:
                return pins.kiosk_card_session(
                    conn, core, rt.cfg, kiosk, card_number=body.card_number, pin=body.pin, now=rt.clock()
                )

        try:
            who = await run_in_threadpool(work)
        except IdentityError as exc:
            raise ChannelRefused(exc) from None
        store = sessions(request)
        return SessionOpened(session=store.open(who, kiosk), idle_seconds=store.policy.idle_seconds)

    @r.post("/session/id", summary="证件号码 + 查询密码，发送短信验证码", response_model=CodeSent)
    async def start_with_id(request: Request, kiosk: Device, body: IdLogin) -> CodeSent:
        rt = identity(request)

        def work() -> pins.KioskChallenge:
            with rt.hub() as conn, rt.core() as core:
                return pins.kiosk_start_id_session(
                    conn, core, rt.redis, rt.cfg, kiosk, document_type=body.document_type,
                    document_number=body.document_number, pin=body.pin, now=rt.clock(),
                )  # fmt: skip

        try:
            sent = await run_in_threadpool(work)
        except IdentityError as exc:
            raise ChannelRefused(exc) from None
        return CodeSent(ticket=sent.ticket, phone_masked=sent.phone_masked)

    @r.post("/session/id/verify", summary="短信验证码确认后开始会话", response_model=SessionOpened)
    async def finish_with_id(request: Request, kiosk: Device, body: CodeCheck) -> SessionOpened:
        rt = identity(request)

        def work() -> Subject:
            with rt.hub() as conn:
                return pins.kiosk_complete_id_session(
                    conn, rt.cfg, kiosk, ticket=body.ticket, code=body.code, now=rt.clock()
                )

        try:
            who = await run_in_threadpool(work)
        except IdentityError as exc:
            raise ChannelRefused(exc) from None
        store = sessions(request)
        return SessionOpened(session=store.open(who, kiosk), idle_seconds=store.policy.idle_seconds)

    @r.delete("/session", summary="结束会话（取卡或离开）", response_model=SessionClosed)
    async def close(
        request: Request, kiosk: Device, token: Annotated[str, Header(alias=SESSION_HEADER)] = ""
    ) -> SessionClosed:
        return SessionClosed(ended=await run_in_threadpool(sessions(request).end, token, kiosk))

    @r.get("/me", summary="个人基本信息", response_model=Read[PersonOverviewRead])
    async def me(request: Request, who: Person) -> Any:
        async with open_read(request, who) as ctx:
            return await persons.get_overview(ctx, _pid(who))

    @r.get("/me/contributions", summary="缴费明细", response_model=ContributionPage[ContributionRead])
    async def contributions(
        request: Request,
        who: Person,
        year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Any:
        async with open_read(request, who) as ctx:
            return await persons.list_contributions(ctx, _pid(who), year=year, cursor=cursor, limit=24)

    @r.get("/me/accounts", summary="个人账户", response_model=Read[list[AccountYearRead]])
    async def accounts(request: Request, who: Person) -> Any:
        async with open_read(request, who) as ctx:
            return await persons.list_accounts(ctx, _pid(who))

    @r.get("/me/benefit", summary="养老待遇", response_model=Read[BenefitRead | None])
    async def benefit(request: Request, who: Person) -> Any:
        async with open_read(request, who) as ctx:
            return await persons.get_benefit(ctx, _pid(who))

    @r.get("/me/payments", summary="待遇发放", response_model=Read[list[BenefitPaymentRead]])
    async def payments(
        request: Request, who: Person, year: Annotated[int | None, Query(ge=1990, le=2100)] = None
    ) -> Any:
        async with open_read(request, who) as ctx:
            return await persons.list_payments(ctx, _pid(who), year)

    @r.get("/me/card", summary="社保卡信息", response_model=Read[CardRead | None])
    async def card(request: Request, who: Person) -> Any:
        async with open_read(request, who) as ctx:
            return await persons.get_card(ctx, _pid(who))

    return r


def _pid(who: Subject) -> int:
    if who.person_id is None:
        raise SessionEnded()
    return who.person_id
