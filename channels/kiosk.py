"""自助终端 (kiosk) API under ``/kiosk/v1``: the kiosk device authenticates with its own client token; a
person starts a session with the card the kiosk read and the query PIN, or with the ID number, the PIN and
an SMS code; reads are the person's own, masked as the kiosk channel requires (stricter than a phone).

The session token travels in ``X-Kiosk-Session``; it ends after 60 s idle, when the kiosk reports the card
removed (``DELETE /kiosk/v1/session``), or at its absolute limit.

Print payloads (``/me/print/…``): a 个人参保证明 or 个人权益记录单 as the signed PDF of ``hub.certificates``
(verification code and QR code inside), its names and numbers masked as the kiosk channel masks them, since
the sheet comes out in a public hall. Within one session a repeated print hands out the same certificate (the
payload is kept with the session and removed when it ends); each print and reprint is audited with the device.
"""

import asyncio
import base64
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import ALNUM, CHANNEL_RESPONSES, TICKET, ChannelRefused, DeviceRefused
from channels.reads import Authenticate, ReadOpener
from channels.sessions import ChannelSessions, SessionEnded
from hub.access.channels import masker
from hub.access.context import ReadContext
from hub.access.subject import Channel, Subject, SubjectKind
from hub.certificates import codes, gather
from hub.certificates import service as certificates
from hub.certificates.config import CertificateSettings
from hub.certificates.content import Content, Line
from hub.certificates.fonts import Face, find_faces
from hub.certificates.pdf import SHANGHAI
from hub.db import WriteConnection
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
    card_number: str = Field(min_length=9, max_length=20, pattern=ALNUM, description="读卡器读出的社会保障卡卡号")
    pin: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$", description="查询密码")


class IdLogin(BaseModel):
    document_type: str = Field("01", max_length=4, pattern=ALNUM, description="证件类型")
    document_number: str = Field(min_length=6, max_length=30, pattern=ALNUM)
    pin: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class CodeCheck(BaseModel):
    ticket: str = Field(min_length=8, max_length=100, pattern=TICKET)
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class SessionOpened(BaseModel):
    session: str = Field(description=f"放入请求头 {SESSION_HEADER}")
    idle_seconds: int


class CodeSent(BaseModel):
    ticket: str
    phone_masked: str


class SessionClosed(BaseModel):
    ended: bool


class PrintPayload(BaseModel):
    certificate_id: str = Field(description="证明编号")
    title: str = Field(description="个人参保证明 或 个人权益记录单")
    verify_code: str = Field(description="验证码（四位一组）")
    verify_url: str = Field(description="二维码指向的核验地址")
    issued_at: datetime
    expires_at: datetime
    media_type: str = Field("application/pdf", description="打印内容的格式")
    pdf_base64: str = Field(description="已签名的 PDF（Base64 编码）")


def kiosk_content(content: Content) -> Content:
    """The certificate as a kiosk may print it: names and numbers masked by the kiosk channel's policy."""
    m = masker(Channel.KIOSK)

    def shown(line: Line) -> Line:
        if line.mask == "name":
            return dataclasses.replace(line, value=m.name(line.value) or "")
        if line.mask == "id_number":
            return dataclasses.replace(line, value=m.id_number(line.value) or "")
        return line

    return dataclasses.replace(content, lines=tuple(shown(line) for line in content.lines))


@lru_cache(maxsize=4)
def _faces(paths: tuple[Path, ...]) -> tuple[Face, ...]:
    return find_faces(paths)


def _today() -> date:
    return datetime.now(SHANGHAI).date()


def router(authenticate: Authenticate, open_read: ReadOpener, sessions_of: Any) -> APIRouter:
    """``sessions_of(app) -> ChannelSessions`` for the kiosk; ``open_read`` reads as the session's person."""
    r = APIRouter(prefix="/kiosk/v1", tags=["自助终端"], responses=CHANNEL_RESPONSES)

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

    async def printed(
        request: Request, who: Subject, token: str, name: str, build: Callable[[ReadContext], Awaitable[Content]]
    ) -> PrintPayload:
        """The session's certificate ``name``: issued on the first print, the same one on every later print."""
        store = sessions(request)
        settings: CertificateSettings = request.app.state.certificate_settings
        async with request.app.state.pools.hub.connection() as conn:
            # One print at a time per session, so two quick presses cannot issue two certificates.
            lock = f"kiosk-print:{store.handle(token)}"
            await conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (lock,))
            try:
                async with open_read(request, who) as ctx:
                    kept = await run_in_threadpool(store.recall, token, name)
                    if kept is not None:
                        payload = PrintPayload.model_validate_json(kept)
                        await ctx.audit.record(
                            ctx.caller, "kiosk.print", "certificate", payload.certificate_id, "reprint"
                        )
                        return payload
                    content = kiosk_content(await build(ctx))
                    kek = request.app.state.settings.auth.key_encryption_key.get_secret_value()
                    faces = await asyncio.to_thread(_faces, tuple(settings.font_paths))
                    issued = await certificates.issue(
                        WriteConnection(conn), content, settings=settings, key_encryption_key=kek, faces=faces,
                        now=datetime.now(UTC),
                    )  # fmt: skip
                    await conn.commit()
                    payload = PrintPayload(
                        certificate_id=issued.certificate_id,
                        title=content.title,
                        verify_code=codes.display(issued.code),
                        verify_url=issued.verify_url,
                        issued_at=issued.issued_at,
                        expires_at=issued.expires_at,
                        pdf_base64=base64.b64encode(issued.pdf).decode(),
                    )
                    await run_in_threadpool(store.keep, token, name, payload.model_dump_json())
                    await ctx.audit.record(ctx.caller, "kiosk.print", "certificate", issued.certificate_id, "ok")
                    return payload
            finally:
                # A session-level lock: it outlives the commits of ``issue``; the connection goes back idle.
                await conn.rollback()
                await conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (lock,))
                await conn.commit()

    @r.get("/me/print/certificate", summary="打印个人参保证明", response_model=PrintPayload)
    async def print_certificate(
        request: Request, who: Person, token: Annotated[str, Header(alias=SESSION_HEADER)] = ""
    ) -> PrintPayload:
        pid = _pid(who)
        return await printed(
            request, who, token, "person", lambda ctx: gather.person_certificate(ctx, pid, as_of=_today())
        )

    @r.get("/me/print/statement", summary="打印个人权益记录单", response_model=PrintPayload)
    async def print_statement(
        request: Request,
        who: Person,
        year: Annotated[int, Query(ge=1990, le=2100, description="记录年度")],
        token: Annotated[str, Header(alias=SESSION_HEADER)] = "",
    ) -> PrintPayload:
        pid = _pid(who)
        return await printed(
            request,
            who,
            token,
            f"statement:{year}",
            lambda ctx: gather.rights_statement(ctx, pid, year, as_of=_today()),
        )

    return r


def _pid(who: Subject) -> int:
    if who.person_id is None:
        raise SessionEnded()
    return who.person_id
