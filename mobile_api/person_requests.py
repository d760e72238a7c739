"""The app's person requests under ``/app/v1/me``: 联系方式变更 (a code to the new number + the login
password; optionally the 通讯地址 and 邮政编码), 社保卡挂失 / 解挂 (the login password or a code to the phone
on record) and 办理进度.

The same services as the portal (``hub.persons.requests``): one request per idempotency key, sent to the
core by the outbox worker. A request of another person answers like a missing one.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.subject import Subject
from hub.errors import HubError, NotFound, RateLimited, ServiceUnavailable, ValidationFailed
from hub.identity.codes import SentCode
from hub.persons import requests as pr
from hub.persons.requests import RequestType
from mobile_api import deps
from mobile_api.errors import PERSONAL_RESPONSES

RequestId = Annotated[int, Path(ge=1, lt=2**63, description="办理编号")]


class ContactCode(BaseModel):
    phone: str = Field(min_length=11, max_length=11, pattern=r"^\d{11}$", description="新手机号码")


class ContactChange(ContactCode):
    ticket: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$", description="新号码收到的验证码")
    password: str = Field(min_length=1, max_length=128, description="登录密码")
    idempotency_key: str = Field(
        min_length=1, max_length=100, pattern=r"^[!-~]+$", description="请求编号（重试时不变）"
    )
    # Bounded loosely here; the service checks the real rules (100 characters after normalisation, no control
    # characters, six digits) and answers in Chinese naming the field.
    address: str | None = Field(None, max_length=400, description="通讯地址（选填，不超过100个字；不变更的不传）")
    postal_code: str | None = Field(None, max_length=20, description="邮政编码（选填，6位数字；不变更的不传）")


class CardRequest(BaseModel):
    idempotency_key: str = Field(
        min_length=1, max_length=100, pattern=r"^[!-~]+$", description="请求编号（重试时不变）"
    )
    password: str | None = Field(None, max_length=128, description="登录密码（与短信验证码二选一）")
    ticket: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    code: str | None = Field(None, pattern=r"^\d{6}$", description="预留手机收到的验证码")


class CodeSent(BaseModel):
    ticket: str
    phone_masked: str
    expires_at: datetime


class RequestItem(BaseModel):
    id: int
    reference: str
    type: str = Field(description="contact_change / card_loss / card_unloss / phone_recovery")
    type_label: str
    summary: str
    status: str = Field(description="submitted / sent / applied / failed")
    status_label: str
    reason: str | None
    created_at: datetime
    finished_at: datetime | None


class RequestEvent(BaseModel):
    at: datetime
    status: str
    label: str
    reason: str | None


class RequestDetail(RequestItem):
    events: list[RequestEvent]


def _item(it: pr.PersonRequest) -> dict[str, Any]:
    return {
        "id": it.id, "reference": it.reference, "type": it.type.value, "type_label": it.type_label,
        "summary": it.summary, "status": it.status.value, "status_label": it.status_label, "reason": it.reason,
        "created_at": it.created_at, "finished_at": it.finished_at,
    }  # fmt: skip


def app_error(exc: pr.Refused) -> HubError:
    """A refused confirmation as one of the app's stable codes (``mobile_api.errors``), same Chinese text."""
    if exc.status == 429:
        return RateLimited(60.0)
    if exc.status == 503:
        return ServiceUnavailable(exc.detail)
    if exc.status == 404:
        return NotFound(exc.detail)
    return ValidationFailed(exc.detail)  # a wrong or expired code, a wrong password, no phone on record


def router(authenticate: Any) -> APIRouter:
    r = APIRouter(prefix="/app/v1/me", tags=["掌上12333"], responses=PERSONAL_RESPONSES)

    app_person = deps.app_person(authenticate)

    AppPerson = Annotated[Subject, Depends(app_person)]

    def run(request: Request, work: Any, *, core: bool = False) -> Any:
        rt = request.app.state.identity

        def inner() -> Any:
            with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
                try:
                    if core:
                        with rt.core() as core_conn:
                            result = work(conn, core_conn)
                    else:
                        result = work(conn)
                except pr.Refused as exc:
                    raise app_error(exc) from None
                conn.commit()
                return result

        return run_in_threadpool(inner)

    def ip(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def sent(code: SentCode) -> CodeSent:
        return CodeSent(ticket=code.ticket, phone_masked=code.phone_masked, expires_at=code.expires_at)

    @r.post("/contact/code", summary="联系方式变更：向新手机号码发送验证码", response_model=CodeSent)
    async def contact_code(request: Request, me: AppPerson, body: ContactCode) -> CodeSent:
        rt = request.app.state.identity
        return sent(
            await run(
                request,
                lambda conn: pr.send_contact_code(
                    conn, rt.redis, rt.cfg, me, phone=body.phone, ip=ip(request), now=rt.clock()
                ),
            )
        )

    @r.post("/contact", summary="联系方式变更：提交（验证码 + 登录密码）", response_model=RequestItem)
    async def contact(request: Request, me: AppPerson, body: ContactChange) -> Any:
        rt = request.app.state.identity
        item = await run(
            request,
            lambda conn: pr.change_contact(
                conn, rt.cfg, me, phone=body.phone, ticket=body.ticket, code=body.code, password=body.password,
                idempotency_key=body.idempotency_key, source=ip(request), now=rt.clock(), address=body.address,
                postal=body.postal_code,
            ),
        )  # fmt: skip
        return _item(item)

    @r.post("/card/code", summary="社保卡挂失/解挂：向预留手机发送验证码", response_model=CodeSent)
    async def card_code(request: Request, me: AppPerson) -> CodeSent:
        rt = request.app.state.identity
        return sent(
            await run(
                request,
                lambda conn, core: pr.send_card_code(conn, core, rt.redis, rt.cfg, me, ip=ip(request), now=rt.clock()),
                core=True,
            )
        )

    async def card(request: Request, me: Subject, kind: RequestType, body: CardRequest) -> Any:
        rt = request.app.state.identity
        item = await run(
            request,
            lambda conn: pr.report_card(
                conn, rt.cfg, me, kind, idempotency_key=body.idempotency_key, source=ip(request), now=rt.clock(),
                password=body.password, ticket=body.ticket, code=body.code,
            ),
        )  # fmt: skip
        return _item(item)

    @r.post("/card/loss", summary="社保卡挂失", response_model=RequestItem)
    async def card_loss(request: Request, me: AppPerson, body: CardRequest) -> Any:
        return await card(request, me, RequestType.CARD_LOSS, body)

    @r.post("/card/unloss", summary="社保卡解挂", response_model=RequestItem)
    async def card_unloss(request: Request, me: AppPerson, body: CardRequest) -> Any:
        return await card(request, me, RequestType.CARD_UNLOSS, body)

    @r.get("/requests", summary="办理进度", response_model=list[RequestItem])
    async def listing(request: Request, me: AppPerson) -> Any:
        items = await run(request, lambda conn: pr.list_mine(conn, me))
        return [_item(it) for it in items]

    @r.get("/requests/{request_id}", summary="办理详情", response_model=RequestDetail)
    async def detail(request: Request, me: AppPerson, request_id: RequestId) -> Any:
        item, events = await run(request, lambda conn: pr.get_mine(conn, me, request_id))
        return {
            **_item(item),
            "events": [{"at": e.at, "status": e.to_status.value, "label": e.label, "reason": e.reason} for e in events],
        }

    return r
