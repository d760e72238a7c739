"""单位首次登录激活 — a unit that exists in the core but has no operator yet gets its first operator.

Public pages (listed in ``gateway.api.PUBLIC_PATHS``): the visitor types the unit's code (统一社会信用代码
or 单位编号) and receives an activation code on the unit contact's phone on record in the core, or types
a code issued at an agency counter; then chooses a login and password and becomes the unit's
administrator. The rules (single use, expiry, hashing, rate limits, the same answer for unknown units)
are the identity service's (``hub.identity.unit_activation``); these pages only translate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.identity import unit_activation as activation
from hub.identity.errors import (
    CodeCooldown,
    CodeQuotaExceeded,
    IdentityError,
    InvalidCode,
    SmsUnavailable,
    WeakPassword,
)
from portal_web.ui import csrf_of, page

PATHS = ("/portal/activate", "/portal/activate/verify", "/portal/activate/counter")
TITLE = "单位网上服务激活"
SENT_MESSAGE = (
    "如该单位已在经办机构登记且尚未开通网上服务，激活码已发送至单位在经办机构预留的联系人手机，"
    "5分钟内有效。未收到短信的，请核对单位编号，或携单位介绍信到经办机构窗口领取柜台激活码。"
)

router = APIRouter(prefix="/portal/activate", include_in_schema=False)


@dataclass
class AccountForm:
    login: str = ""
    display_name: str = ""
    phone: str = ""


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _rt(request: Request) -> Any:
    """The identity runtime the gateway built (policies, clock, connections, Redis)."""
    return request.app.state.identity


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, fields)
    return fields


def _field_errors(exc: IdentityError) -> dict[str, str]:
    """Which form field an identity error belongs to (shown next to it)."""
    if isinstance(exc, activation.InvalidLogin):
        return {"login": exc.detail}
    if isinstance(exc, activation.InvalidName):
        return {"display_name": exc.detail}
    if isinstance(exc, activation.InvalidPhone):
        return {"phone": exc.detail}
    if isinstance(exc, WeakPassword):
        return {"password": exc.detail}
    if isinstance(exc, InvalidCode):
        return {"code": exc.detail}
    return {}


def _start(request: Request, status: int = 200, **context: Any) -> Response:
    context.setdefault("unit_code", "")
    context.setdefault("errors", {})
    context.setdefault("account", asdict(AccountForm()))
    return page(request, "portal/activate.html", subject=None, status=status, title=TITLE, **context)


@router.get("")
async def start_form(request: Request) -> Response:
    """The first step: the unit's code (or a counter-issued activation code)."""
    return _start(request)


@router.post("")
async def send_code(request: Request) -> Response:
    """Send an activation code to the unit contact's phone on record (same reply for any unit code)."""
    fields = await _fields(request)
    unit_code = fields.get("unit_code", "").strip()[:40]
    if not unit_code:
        return _start(request, 422, errors={"unit_code": "请填写统一社会信用代码或单位编号"})
    rt = _rt(request)

    def work() -> Any:
        with rt.hub() as conn, rt.core() as core:
            return activation.start_sms(
                conn, core, rt.redis, rt.cfg, unit_code=unit_code, ip=_ip(request), now=rt.clock()
            )

    try:
        sent = await run_in_threadpool(work)
    except (CodeCooldown, CodeQuotaExceeded, SmsUnavailable) as exc:
        return _start(request, exc.status, unit_code=unit_code, errors={"unit_code": exc.detail})
    return page(
        request,
        "portal/activate_code.html",
        subject=None,
        title=TITLE,
        ticket=sent.ticket,
        message=SENT_MESSAGE,
        errors={},
        account=asdict(AccountForm()),
    )


@router.post("/verify")
async def verify_sms(
    request: Request,
    password: Annotated[str, Form(max_length=128)] = "",
    password2: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """The SMS activation code and the first operator's account."""
    fields = await _fields(request)
    account = AccountForm(fields.get("login", ""), fields.get("display_name", ""), fields.get("phone", ""))
    ticket = fields.get("ticket", "")[:64]
    code = fields.get("code", "").strip()[:12]

    def again(status: int, errors: dict[str, str]) -> Response:
        return page(
            request,
            "portal/activate_code.html",
            subject=None,
            status=status,
            title=TITLE,
            ticket=ticket,
            message=SENT_MESSAGE,
            errors=errors,
            account=asdict(account),
        )

    if password != password2:
        return again(422, {"password2": "两次输入的密码不一致"})
    if not code:
        return again(422, {"code": "请填写短信激活码"})
    rt = _rt(request)

    def work() -> activation.Activated:
        with rt.hub() as conn:
            return activation.complete_sms(
                conn, rt.cfg, ticket=ticket, code=code, login=account.login, display_name=account.display_name,
                phone=account.phone, password=password, ip=_ip(request), now=rt.clock(),
            )  # fmt: skip

    try:
        done = await run_in_threadpool(work)
    except IdentityError as exc:
        return again(exc.status if exc.status != 400 else 422, _field_errors(exc) or {"form": exc.detail})
    return _done(request, done)


@router.post("/counter")
async def verify_counter(
    request: Request,
    password: Annotated[str, Form(max_length=128)] = "",
    password2: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """A counter-issued activation code with the unit's code and the first operator's account."""
    fields = await _fields(request)
    account = AccountForm(fields.get("login", ""), fields.get("display_name", ""), fields.get("phone", ""))
    unit_code = fields.get("unit_code", "").strip()[:40]
    code = fields.get("code", "").strip()[:40]

    def again(status: int, errors: dict[str, str]) -> Response:
        return _start(request, status, unit_code=unit_code, errors=errors, account=asdict(account), counter=True)

    if password != password2:
        return again(422, {"password2": "两次输入的密码不一致"})
    if not unit_code or not code:
        missing = {"unit_code": "请填写统一社会信用代码或单位编号"} if not unit_code else {}
        return again(422, missing | ({"code": "请填写柜台激活码"} if not code else {}))
    rt = _rt(request)

    def work() -> activation.Activated:
        with rt.hub() as conn, rt.core() as core:
            return activation.complete_counter(
                conn, core, rt.redis, rt.cfg, unit_code=unit_code, code=code, login=account.login,
                display_name=account.display_name, phone=account.phone, password=password, ip=_ip(request),
                now=rt.clock(),
            )  # fmt: skip

    try:
        done = await run_in_threadpool(work)
    except IdentityError as exc:
        errors = _field_errors(exc) or {"form": exc.detail}
        return again(exc.status if exc.status != 400 else 422, errors)
    return _done(request, done)


def _done(request: Request, done: activation.Activated) -> Response:
    return page(
        request,
        "portal/activate_done.html",
        subject=None,
        title="激活成功",
        unit_id=done.unit_id,
        login=done.login,
    )
