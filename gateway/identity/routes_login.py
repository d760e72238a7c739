"""Login, registration, password reset and unlock pages (Jinja2, Simplified Chinese, no JavaScript).

Pages only translate: every rule is in ``hub.identity``. The synchronous services run in the thread
pool with their own hub-DB and read-only core connections.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from gateway.identity.adapter import parse_form
from gateway.identity.deps import MaybeAuthenticated
from gateway.identity.runtime import IdentityRuntime, runtime_of
from hub.access.subject import Channel, SubjectKind
from hub.identity import captcha_store, login, registration, sessions, subjects
from hub.identity.documents import DOCUMENT_TYPES, RESIDENT_ID
from hub.identity.errors import IdentityError, WeakPassword

router = APIRouter(tags=["认证页面"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

KINDS = {"person": SubjectKind.PERSON, "unit_operator": SubjectKind.UNIT_OPERATOR, "staff": SubjectKind.STAFF}
TITLES = {"person": "个人登录", "unit_operator": "单位经办人登录", "staff": "经办机构工作人员登录"}


def _safe_next(value: str | None) -> str:
    """Only a local path: never an open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/auth/account"


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("error", None)
    context.setdefault("document_types", DOCUMENT_TYPES)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _password_hint(rt: IdentityRuntime) -> str:
    if rt.cfg.passwords.profile == "asvs":
        return "密码至少12位，不能使用常见或已泄露的密码。"
    history = rt.cfg.passwords.history
    return f"密码至少8位，须包含大写字母、小写字母、数字、特殊字符中的至少三类，且不能与最近{history}次相同。"


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_form(await request.body()))


def _kind(value: str | None) -> str:
    return value if value in KINDS else "person"


def _credentials(form: dict[str, str], password: str = "") -> login.Credentials:
    return login.Credentials(
        kind=KINDS[_kind(form.get("kind"))],
        login=form.get("login", ""),
        password=password,
        document_type=form.get("document_type", RESIDENT_ID),
        unit_code=form.get("unit_code") or None,
        captcha_id=form.get("captcha_id", ""),
        captcha_answer=form.get("captcha", ""),
    )


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(fn, *args)


# login -------------------------------------------------------------------------------------------
def _login_page(request: Request, kind: str, next_url: str, error: IdentityError | None = None) -> HTMLResponse:
    rt = runtime_of(request.app)
    extra: dict[str, Any] = {}
    if kind == "unit_operator":
        try:
            captcha_id, answer = captcha_store.new(rt.redis, rt.cfg.settings.redis_prefix)
            extra = {"captcha_id": captcha_id, "captcha_image": base64.b64encode(captcha_store.image(answer)).decode()}
        except IdentityError as exc:
            error = error or exc
    return _page(
        request,
        "login.html",
        error.status if error else 200,
        title=TITLES[kind],
        kind=kind,
        next=next_url,
        error=error,
        **extra,
    )


@router.get("/auth/login")
def login_form(request: Request, kind: str = "person", next: str = "") -> HTMLResponse:
    """The login form for persons, unit operators (with an image captcha) and staff."""
    return _login_page(request, _kind(kind), _safe_next(next) if next else "")


@router.post("/auth/login")
async def login_submit(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)
    kind = _kind(form.get("kind"))
    next_url = form.get("next", "")
    ip = _ip(request)

    def work() -> login.LoginChallenge:
        with rt.hub() as conn, rt.core() as core:
            return login.start_login(
                conn,
                core,
                rt.redis,
                rt.cfg,
                _credentials(form, form.get("password", "")),
                source=f"ip:{ip}",
                ip=ip,
                now=rt.clock(),
            )

    try:
        challenge = await _run(work)
    except IdentityError as exc:
        return _login_page(request, kind, next_url, exc)
    return _page(
        request,
        "code.html",
        title="输入验证码",
        action="/auth/login/verify",
        ticket=challenge.ticket,
        method=challenge.method,
        phone_masked=challenge.phone_masked,
        purpose="login",
        next=next_url,
    )


@router.post("/auth/login/verify")
async def login_verify(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)
    ip = _ip(request)

    def work() -> tuple[str, bool]:
        with rt.hub() as conn:
            done = login.complete_login(
                conn,
                rt.cfg,
                ticket=form.get("ticket", ""),
                code=form.get("code", ""),
                source=f"ip:{ip}",
                now=rt.clock(),
            )
        subject = subjects.for_account(
            done.account,
            client_id=sessions.SESSION_CLIENT,
            channel=Channel.PORTAL,
            scopes=subjects.account_scopes(done.account),
            grant_id=None,
            auth_methods=done.auth_methods,
        )
        return sessions.create(rt.redis, rt.sessions, subject, rt.clock()), done.password_change_due

    try:
        session_id, change_due = await _run(work)
    except IdentityError as exc:
        return _page(
            request,
            "code.html",
            exc.status,
            title="输入验证码",
            action="/auth/login/verify",
            ticket=form.get("ticket", ""),
            method="sms",
            phone_masked=None,
            purpose="login",
            next=form.get("next", ""),
            error=exc,
        )
    target = _safe_next(form.get("next"))
    if change_due:  # 等保 profile: remind (not force) to change a password older than the configured age
        target = "/auth/password-reminder?next=" + quote(target, safe="")
    response = RedirectResponse(target, status_code=303)
    s = rt.cfg.settings
    response.set_cookie(
        s.session_cookie,
        session_id,
        max_age=s.session_absolute_hours * 3600,
        httponly=True,
        secure=s.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


@router.get("/auth/account")
def account_page(request: Request, subject: MaybeAuthenticated) -> Response:
    if subject is None or subject.client_id != sessions.SESSION_CLIENT:
        return RedirectResponse("/auth/login", status_code=303)
    return _page(request, "message.html", title="已登录", message="您已登录。", logged_in=True)


@router.get("/auth/password-reminder")
def password_reminder(request: Request, next: str = "") -> HTMLResponse:
    days = runtime_of(request.app).cfg.passwords.max_age_days
    return _page(
        request,
        "message.html",
        title="请修改密码",
        message=f"您的密码已使用超过{days}天，按安全要求请尽快修改。",
        links=[("/auth/reset", "立即修改密码"), (_safe_next(next), "稍后修改，继续")],
        logged_in=True,
    )


@router.post("/auth/logout")
async def logout(request: Request) -> Response:
    rt = runtime_of(request.app)
    session_id = request.cookies.get(rt.cfg.settings.session_cookie)
    if session_id:
        await request.app.state.redis.delete(sessions.key(rt.sessions, session_id))
    response = RedirectResponse("/auth/login", status_code=303)
    response.delete_cookie(rt.cfg.settings.session_cookie, path="/")
    return response


# registration ------------------------------------------------------------------------------------
@router.get("/auth/register")
def register_form(request: Request) -> HTMLResponse:
    """Person registration step 1: document, number and name (checked against the core)."""
    return _page(request, "register.html", title="个人注册")


@router.post("/auth/register")
async def register_submit(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)
    ip = _ip(request)

    def work() -> Any:
        with rt.hub() as conn, rt.core() as core:
            return registration.start_registration(
                conn,
                core,
                rt.redis,
                rt.cfg,
                document_type=form.get("document_type", RESIDENT_ID),
                document_number=form.get("document_number", ""),
                name=form.get("name", ""),
                ip=ip,
                now=rt.clock(),
            )

    try:
        sent = await _run(work)
    except IdentityError as exc:
        return _page(request, "register.html", exc.status, title="个人注册", error=exc)
    return _code_with_password(request, "/auth/register/verify", sent.ticket, sent.phone_masked, "register")


def _code_with_password(
    request: Request, action: str, ticket: str, phone: str | None, purpose: str, error: IdentityError | None = None
) -> HTMLResponse:
    return _page(
        request,
        "code.html",
        error.status if error else 200,
        title="输入验证码并设置密码",
        action=action,
        ticket=ticket,
        method="sms",
        phone_masked=phone,
        purpose=purpose,
        next="",
        with_password=True,
        password_hint=_password_hint(runtime_of(request.app)),
        error=error,
    )


def _passwords(form: dict[str, str]) -> str:
    if form.get("password", "") != form.get("password2", ""):
        raise WeakPassword("两次输入的密码不一致")
    return form.get("password", "")


@router.post("/auth/register/verify")
async def register_verify(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)

    def work() -> None:
        password = _passwords(form)
        with rt.hub() as conn, rt.core() as core:
            registration.complete_registration(
                conn,
                core,
                rt.cfg,
                ticket=form.get("ticket", ""),
                code=form.get("code", ""),
                password=password,
                now=rt.clock(),
            )

    try:
        await _run(work)
    except IdentityError as exc:
        return _code_with_password(request, "/auth/register/verify", form.get("ticket", ""), None, "register", exc)
    return _page(request, "message.html", title="注册成功", message="注册成功，请使用证件号码和密码登录。")


# reset and unlock ------------------------------------------------------------------------------
@router.get("/auth/reset")
def reset_form(request: Request, kind: str = "person") -> HTMLResponse:
    return _page(request, "identify.html", title="找回密码", action="/auth/reset", kind=_kind(kind))


@router.post("/auth/reset")
async def reset_submit(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)
    ip = _ip(request)

    def work() -> Any:
        with rt.hub() as conn, rt.core() as core:
            account = login.resolve(conn, core, rt.cfg, _credentials(form))
            return registration.start_reset(conn, core, rt.redis, rt.cfg, account, ip=ip, now=rt.clock())

    try:
        sent = await _run(work)
    except IdentityError as exc:
        return _page(
            request, "identify.html", exc.status, title="找回密码", action="/auth/reset", kind="person", error=exc
        )
    return _code_with_password(request, "/auth/reset/verify", sent.ticket, None, "reset")


@router.post("/auth/reset/verify")
async def reset_verify(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)

    def work() -> None:
        password = _passwords(form)
        with rt.hub() as conn:
            registration.complete_reset(
                conn,
                rt.cfg,
                ticket=form.get("ticket", ""),
                code=form.get("code", ""),
                password=password,
                now=rt.clock(),
            )

    try:
        await _run(work)
    except IdentityError as exc:
        return _code_with_password(request, "/auth/reset/verify", form.get("ticket", ""), None, "reset", exc)
    return _page(request, "message.html", title="密码已重置", message="密码已重置，请使用新密码登录。")


@router.get("/auth/unlock")
def unlock_form(request: Request, kind: str = "person") -> HTMLResponse:
    return _page(request, "identify.html", title="账号解锁", action="/auth/unlock", kind=_kind(kind))


@router.post("/auth/unlock")
async def unlock_submit(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)
    ip = _ip(request)

    def work() -> str:
        with rt.hub() as conn, rt.core() as core:
            sent = login.start_unlock(conn, core, rt.redis, rt.cfg, _credentials(form), ip=ip, now=rt.clock())
        return sent.ticket if sent else secrets.token_urlsafe(24)

    try:
        ticket = await _run(work)
    except IdentityError as exc:
        return _page(
            request, "identify.html", exc.status, title="账号解锁", action="/auth/unlock", kind="person", error=exc
        )
    return _page(
        request,
        "code.html",
        title="账号解锁",
        action="/auth/unlock/verify",
        ticket=ticket,
        method="sms",
        phone_masked=None,
        purpose="unlock",
        next="",
    )


@router.post("/auth/unlock/verify")
async def unlock_verify(request: Request) -> Response:
    form = await _form(request)
    rt = runtime_of(request.app)

    def work() -> None:
        with rt.hub() as conn:
            login.complete_unlock(
                conn, rt.cfg, ticket=form.get("ticket", ""), code=form.get("code", ""), now=rt.clock()
            )

    try:
        await _run(work)
    except IdentityError as exc:
        return _page(
            request,
            "code.html",
            exc.status,
            title="账号解锁",
            action="/auth/unlock/verify",
            ticket=form.get("ticket", ""),
            method="sms",
            phone_masked=None,
            purpose="unlock",
            next="",
            error=exc,
        )
    return _page(
        request, "message.html", title="账号已解锁", message="账号已解锁，请登录；如非本人操作导致锁定，建议修改密码。"
    )
