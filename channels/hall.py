"""大厅服务 (hall counter) and 12333 agent-desk lookups under ``/hall/v1``.

The caller is a staff member (operator or reviewer) through a portal session or an access token. A
person's records are read only under that person's consent for this staff account: an SMS code the
person reads out (``POST /consents`` then ``/consents/verify``), or a written authorisation brought by
an agent (``POST /consents/written``). Without an unexpired grant, a person's pages answer exactly as a
missing person does. Reads go through the hall channel (numbers in full, DOMAIN.md §6.2) and keep the
row-level rule that staff see only the people of their 统筹区. Every step is audited.
"""

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import ALNUM, CHANNEL_RESPONSES, PRINTABLE, TICKET, ChannelRefused, DeviceRefused
from channels.reads import Authenticate, ReadOpener
from hub.access.rules import DATA_ROLES
from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.errors import NotFound
from hub.identity import consent
from hub.identity.errors import IdentityError
from hub.persons import service as persons
from hub.persons.schemas import ContributionRead, PersonOverviewRead, Read
from hub.persons.schemas import Page as ContributionPage

PersonId = Annotated[int, Path(ge=1, lt=2**63, description="参保人编号")]


class ConsentAsk(BaseModel):
    document_type: str = Field("01", max_length=4, pattern=ALNUM, description="参保人证件类型")
    document_number: str = Field(min_length=6, max_length=30, pattern=ALNUM, description="参保人证件号码")


class ConsentCode(BaseModel):
    ticket: str = Field(min_length=8, max_length=100, pattern=TICKET)
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$", description="参保人念出的短信验证码")


class WrittenAuthorisation(BaseModel):
    document_type: str = Field("01", max_length=4, pattern=ALNUM, description="参保人证件类型")
    document_number: str = Field(min_length=6, max_length=30, pattern=ALNUM, description="参保人证件号码")
    authorisation_number: str = Field(min_length=1, max_length=64, pattern=PRINTABLE, description="授权委托书编号")
    agent_document_type: str = Field("01", max_length=4, pattern=ALNUM, description="受托人证件类型")
    agent_document_number: str = Field(min_length=6, max_length=30, pattern=ALNUM, description="受托人证件号码")


class ConsentSent(BaseModel):
    ticket: str
    phone_masked: str
    expires_at: datetime


class ConsentGranted(BaseModel):
    person_id: int
    basis: str = Field(description="sms（短信验证码）或 written（书面授权委托）")
    expires_at: datetime


def hall_subject(staff: Subject) -> Subject:
    """The staff member reading at the counter: the hall channel, and only the person-read scopes they hold."""
    return replace(staff, channel=Channel.HALL, scopes=staff.scopes & frozenset(str(s) for s in PERSON_SCOPES))


def router(authenticate: Authenticate, open_read: ReadOpener, grant_seconds: int = consent.GRANT_SECONDS) -> APIRouter:
    """``grant_seconds``: how long a consent lets the staff member read the person (30 minutes by default)."""
    r = APIRouter(prefix="/hall/v1", tags=["大厅服务"], responses=CHANNEL_RESPONSES)

    async def staff_member(request: Request) -> Subject:
        subject = await authenticate(request)
        if subject.kind is not SubjectKind.STAFF or not subject.roles & DATA_ROLES:
            raise DeviceRefused("仅限经办或复核岗位的工作人员使用")
        return subject

    Staff = Annotated[Subject, Depends(staff_member)]

    def identity(request: Request) -> Any:
        return request.app.state.identity

    def granted(grant: consent.Grant) -> ConsentGranted:
        return ConsentGranted(person_id=grant.person_id, basis=grant.basis, expires_at=grant.expires_at)

    @r.post("/consents", summary="向参保人预留手机发送授权验证码", response_model=ConsentSent)
    async def ask(request: Request, staff: Staff, body: ConsentAsk) -> ConsentSent:
        rt = identity(request)

        def work() -> consent.ConsentRequest:
            with rt.hub() as conn, rt.core() as core:
                return consent.request_consent(
                    conn, core, rt.redis, rt.cfg, staff, document_type=body.document_type,
                    document_number=body.document_number, now=rt.clock(),
                )  # fmt: skip

        try:
            sent = await run_in_threadpool(work)
        except IdentityError as exc:
            raise ChannelRefused(exc) from None
        return ConsentSent(ticket=sent.ticket, phone_masked=sent.phone_masked, expires_at=sent.expires_at)

    @r.post("/consents/verify", summary="核对参保人念出的验证码，取得查询授权", response_model=ConsentGranted)
    async def verify(request: Request, staff: Staff, body: ConsentCode) -> ConsentGranted:
        rt = identity(request)

        def work() -> consent.Grant:
            with rt.hub() as conn:
                return consent.confirm_consent(
                    conn, rt.cfg, staff, ticket=body.ticket, code=body.code, now=rt.clock(),
                    grant_seconds=grant_seconds,
                )  # fmt: skip

        try:
            return granted(await run_in_threadpool(work))
        except IdentityError as exc:
            raise ChannelRefused(exc) from None

    @r.post("/consents/written", summary="登记书面授权委托，取得查询授权", response_model=ConsentGranted)
    async def written(request: Request, staff: Staff, body: WrittenAuthorisation) -> ConsentGranted:
        rt = identity(request)

        def work() -> consent.Grant:
            with rt.hub() as conn, rt.core() as core:
                return consent.record_written_authorisation(
                    conn, core, rt.cfg, staff, document_type=body.document_type,
                    document_number=body.document_number, authorisation_number=body.authorisation_number,
                    agent_document_type=body.agent_document_type,
                    agent_document_number=body.agent_document_number, now=rt.clock(),
                    grant_seconds=grant_seconds,
                )  # fmt: skip

        try:
            return granted(await run_in_threadpool(work))
        except IdentityError as exc:
            raise ChannelRefused(exc) from None

    async def with_consent(request: Request, staff: Subject, person_id: int, action: str) -> Subject:
        """The hall reader for ``person_id``, or the missing-person answer when no grant is active."""
        rt = identity(request)

        def work() -> bool:
            with rt.hub() as conn:
                return consent.use_grant(conn, staff, person_id, action, rt.clock())

        if not await run_in_threadpool(work):
            raise NotFound()
        return replace(hall_subject(staff), person_id=person_id)  # the row rule reads only this person

    @r.get("/persons/{person_id}/overview", summary="参保人基本信息", response_model=Read[PersonOverviewRead])
    async def overview(request: Request, staff: Staff, person_id: PersonId) -> Any:
        reader = await with_consent(request, staff, person_id, "person.overview")
        async with open_read(request, reader) as ctx:
            return await persons.get_overview(ctx, person_id)

    @r.get("/persons/{person_id}/contributions", summary="缴费明细", response_model=ContributionPage[ContributionRead])
    async def contributions(
        request: Request,
        staff: Staff,
        person_id: PersonId,
        year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Any:
        reader = await with_consent(request, staff, person_id, "person.contributions")
        async with open_read(request, reader) as ctx:
            return await persons.list_contributions(ctx, person_id, year=year, cursor=cursor, limit=24)

    return r
