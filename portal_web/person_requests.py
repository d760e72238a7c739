"""The person's own changes sent to the core: 联系方式变更 (mobile number, optional 通讯地址 and 邮政编码),
社保卡信息与挂失 (挂失 / 解挂) and 办理进度.

A new mobile number is confirmed by an SMS code sent to that new number and by the login password; a
card loss report or its reversal by the login password or an SMS code to the phone on record. Each form
carries an idempotency key, so pressing 提交 twice makes one request. The request is sent to the core by
the outbox worker; its progress and the core's answer show under 办理进度, and the card status and the
phone change on the other pages once the core has applied them and the sync has carried them back.

No ``from __future__ import annotations`` here: FastAPI must see the route-local ``Reading`` alias at runtime.
"""

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.context import ReadContext
from hub.errors import HubError
from hub.ids import mask_phone
from hub.persons import requests as person_requests
from hub.persons import service as persons
from hub.persons.cards import CARD_STATUS_LABELS, LOST, NORMAL
from hub.persons.requests import RequestType
from portal_web.person import ReadDependency, _chrome, _me
from portal_web.ui import csrf_of, page

SHANGHAI = ZoneInfo("Asia/Shanghai")
RequestId = Annotated[int, Path(ge=1, lt=2**63, description="办理编号")]


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.identity.clock()
    return now


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, fields)
    return fields


def _hub(request: Request, work: Callable[[Any], Any]) -> Any:
    """Run ``work(conn)`` on a hub-DB connection and commit once (in the thread pool)."""

    def run() -> Any:
        with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
            result = work(conn)
            conn.commit()
            return result

    return run_in_threadpool(run)


def router(read_dependency: ReadDependency) -> APIRouter:
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix="/portal/me", include_in_schema=False)

    async def contact_page(request: Request, ctx: Reading, status: int = 200, **extra: Any) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/contact")
        pending, phone = await _hub(
            request,
            lambda conn: (person_requests.pending_phone(conn, person_id), person_requests.login_phone(conn, subject)),
        )
        context: dict[str, Any] = {
            "key": secrets.token_urlsafe(16), "phone": "", "sent": None, "problem": None, "address": "",
            "postal_code": "",
        }  # fmt: skip
        context.update(extra)
        return page(
            request,
            "portal/person_contact.html",
            subject=subject,
            status=status,
            title="联系方式变更",
            current_phone=mask_phone(phone) if phone else None,
            pending_phone=pending,
            **context,
            **chrome,
        )

    @r.get("/contact")
    async def contact(request: Request, ctx: Reading) -> Response:
        return await contact_page(request, ctx)

    @r.post("/contact/code")
    async def contact_code(request: Request, ctx: Reading) -> Response:
        subject, _ = _me(ctx)
        fields = await _form(request)
        phone, key = fields.get("phone", "").strip(), fields.get("key", "")
        rt = request.app.state.identity
        try:
            sent = await _hub(
                request,
                lambda conn: person_requests.send_contact_code(
                    conn, rt.redis, rt.cfg, subject, phone=phone, ip=_ip(request), now=_now(request)
                ),
            )
        except HubError as exc:
            return await contact_page(request, ctx, exc.status, phone=phone, key=key, problem=exc.detail)
        return await contact_page(request, ctx, phone=phone, key=key, sent=sent)

    @r.post("/contact")
    async def contact_submit(request: Request, ctx: Reading) -> Response:
        subject, _ = _me(ctx)
        f = await _form(request)
        rt = request.app.state.identity
        try:
            done = await _hub(
                request,
                lambda conn: person_requests.change_contact(
                    conn, rt.cfg, subject, phone=f.get("phone", ""), ticket=f.get("ticket", ""),
                    code=f.get("code", ""), password=f.get("password", ""), idempotency_key=f.get("key", ""),
                    source=_ip(request), now=_now(request), address=f.get("address"), postal=f.get("postal_code"),
                ),
            )  # fmt: skip
        except HubError as exc:
            sent = {"ticket": f.get("ticket", ""), "phone_masked": mask_phone(f.get("phone", ""))}
            return await contact_page(
                request, ctx, exc.status, phone=f.get("phone", ""), key=f.get("key", ""), problem=exc.detail,
                sent=sent if f.get("ticket") else None, address=f.get("address", ""),
                postal_code=f.get("postal_code", ""),
            )  # fmt: skip
        return RedirectResponse(f"/portal/me/requests/{done.id}", status_code=303)

    async def card_page(request: Request, ctx: Reading, status: int = 200, **extra: Any) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/card")
        card = (await persons.get_card(ctx, person_id)).data
        context: dict[str, Any] = {"key": secrets.token_urlsafe(16), "sent": None, "problem": None, "action": None}
        context.update(extra)
        action = None
        if card is not None and card.status == NORMAL:
            action = (RequestType.CARD_LOSS.value, "挂失")
        elif card is not None and card.status == LOST:
            action = (RequestType.CARD_UNLOSS.value, "解除挂失")
        return page(
            request,
            "portal/person_card.html",
            subject=subject,
            status=status,
            title="社保卡信息与挂失",
            card=card,
            card_status_names=CARD_STATUS_LABELS,
            card_action=action,
            **context,
            **chrome,
        )

    @r.get("/card")
    async def card(request: Request, ctx: Reading) -> Response:
        return await card_page(request, ctx)

    @r.post("/card/code")
    async def card_code(request: Request, ctx: Reading) -> Response:
        subject, _ = _me(ctx)
        f = await _form(request)
        rt = request.app.state.identity

        def work(conn: Any) -> Any:
            with rt.core() as core:
                return person_requests.send_card_code(
                    conn, core, rt.redis, rt.cfg, subject, ip=_ip(request), now=_now(request)
                )

        try:
            sent = await _hub(request, work)
        except HubError as exc:
            return await card_page(request, ctx, exc.status, key=f.get("key", ""), problem=exc.detail)
        return await card_page(request, ctx, key=f.get("key", ""), sent=sent)

    @r.post("/card")
    async def card_submit(request: Request, ctx: Reading) -> Response:
        subject, _ = _me(ctx)
        f = await _form(request)
        rt = request.app.state.identity
        try:
            kind = RequestType(f.get("action", ""))
            done = await _hub(
                request,
                lambda conn: person_requests.report_card(
                    conn, rt.cfg, subject, kind, idempotency_key=f.get("key", ""), source=_ip(request),
                    now=_now(request), password=f.get("password") or None, ticket=f.get("ticket") or None,
                    code=f.get("code") or None,
                ),
            )  # fmt: skip
        except ValueError:
            return await card_page(request, ctx, 422, problem="不支持的办理事项")
        except HubError as exc:
            return await card_page(request, ctx, exc.status, key=f.get("key", ""), problem=exc.detail)
        return RedirectResponse(f"/portal/me/requests/{done.id}", status_code=303)

    @r.get("/requests")
    async def listing(request: Request, ctx: Reading) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/requests")
        items = await _hub(request, lambda conn: person_requests.list_mine(conn, subject))
        return page(
            request,
            "portal/person_requests.html",
            subject=subject,
            title="办理进度",
            items=items,
            shanghai=SHANGHAI,
            **chrome,
        )

    @r.get("/requests/{request_id}")
    async def detail(request: Request, ctx: Reading, request_id: RequestId) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/requests")
        item, events = await _hub(request, lambda conn: person_requests.get_mine(conn, subject, request_id))
        return page(
            request,
            "portal/person_requests_detail.html",
            subject=subject,
            title=f"办理详情 {item.reference}",
            item=item,
            events=events,
            shanghai=SHANGHAI,
            **chrome,
        )

    return r
