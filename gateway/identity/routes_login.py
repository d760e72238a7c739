"""Login, registration, password reset, unlock and query-PIN pages (Jinja2, Simplified Chinese, no JavaScript).

Pages only translate: every rule is in ``hub.identity``. The synchronous services run in the thread
pool with their own hub-DB and read-only core connections. Every form carries a CSRF token
(``hub.http.csrf``) that each POST checks before anything else; every page carries the CSP and
security headers of ``hub.http.html``; errors under ``/auth`` are Chinese HTML pages (``error_page``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from gateway.identity.adapter import parse_form
from gateway.identity.deps import PASSWORD_PAGE, MaybeAuthenticated
from gateway.identity.runtime import IdentityRuntime, runtime_of
from hub.access.subject import Channel, Subject, SubjectKind
from hub.http import html
from hub.http.csrf import FIELD as CSRF_FIELD
from hub.identity import accounts, captcha_store, login, password_change, pins, registration, sessions, subjects
from hub.identity.documents import DOCUMENT_TYPES, RESIDENT_ID
from hub.identity.errors import IdentityError, WeakPassword, WrongCurrentPassword

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
    """A page with the CSRF token for its forms, the CSP nonce for its style, and the security headers."""
    csrf = runtime_of(request.app).csrf
    context.setdefault("error", None)
    context.setdefault("document_types", DOCUMENT_TYPES)
    context["csrf_field"] = CSRF_FIELD
    context["csrf_token"] = csrf.token(request)
    context["csp_nonce"] = html.csp_nonce(request)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    csrf.set_cookie(request, response)
    html.secure_page(request, response)
    return response


def error_page(conn: HTTPConnection, status: int, title: str, detail: str, request_id: str) -> Response:
    """The identity area's error pages (``hub.http.problem.serve_html_errors``): the site's look, status kept."""
    context = {
        "title": title,
        "message": detail,
        "request_id": request_id,
        "csp_nonce": html.csp_nonce(conn),
        "error": None,
    }
    request = conn if isinstance(conn, Request) else Request(conn.scope)
    response = templates.TemplateResponse(request, "error.html", context, status_code=status)
    return html.secure_page(conn, response)


def _password_hint(rt: IdentityRuntime) -> str:
    if rt.cfg.passwords.profile == "asvs":
        return "密码至少12位，不能使用常见或已泄露的密码。"
    history = rt.cfg.passwords.history
    return f"密码至少8位，须包含大写字母、小写字母、数字、特殊字符中的至少三类，且不能与最近{history}次相同。"


async def _form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token was checked (``CsrfFailed``: a 403 page, nothing done)."""
    form = dict(parse_form(await request.body()))
    runtime_of(request.app).csrf.check(request, form)
    return form


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

    def work() -> tuple[str, bool, bool]:
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
        restricted = done.password_must_change
        session_id = sessions.create(rt.redis, rt.sessions, subject, rt.clock(), restricted=restricted)
        return session_id, done.password_change_due, restricted

    try:
        session_id, change_due, must_change = await _run(work)
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
    if must_change:  # an administrator issued the password: the session reaches only the change page
        target = PASSWORD_PAGE + "?next=" + quote(target, safe="")
    elif change_due:  # 等保 profile: remind (not force) to change a password older than the configured age
        target = "/auth/password-reminder?next=" + quote(target, safe="")
    response = RedirectResponse(target, status_code=303)
    s = rt.cfg.settings
    response.set_cookie(
        s.session_cookie,
        session_id,
        max_age=s.session_absolute_hours * 3600,
        httponly=True,
        secure=rt.secure_cookies,
        samesite="lax",
        path="/",
    )
    return response


@router.get("/auth/account")
def account_page(request: Request, subject: MaybeAuthenticated) -> Response:
    if subject is None or subject.client_id != sessions.SESSION_CLIENT:
        return RedirectResponse("/auth/login", status_code=303)
    links = [(PASSWORD_PAGE, "修改登录密码")]
    if _is_person(subject):
        links.append(("/auth/pin", "设置或修改查询密码（自助终端、12333电话查询使用）"))
    return _page(request, "message.html", title="已登录", message="您已登录。", links=links, logged_in=True)


def _is_person(subject: Subject | None) -> bool:
    return subject is not None and subject.client_id == sessions.SESSION_CLIENT and subject.kind is SubjectKind.PERSON


def _pin_page(request: Request, has_pin: bool, error: IdentityError | None = None) -> HTMLResponse:
    return _page(
        request, "pin.html", error.status if error else 200, title="设置查询密码", has_pin=has_pin, error=error
    )


@router.get("/auth/pin")
async def pin_form(request: Request, subject: MaybeAuthenticated) -> Response:
    """The logged-in person sets or changes the 6-digit query PIN (查询密码) for kiosks and the hotline."""
    if subject is None or not _is_person(subject):
        return RedirectResponse("/auth/login?next=%2Fauth%2Fpin", status_code=303)
    rt = runtime_of(request.app)

    def work() -> bool:
        with rt.hub() as conn:
            return pins.has_pin(conn, subject.account_id)

    return _pin_page(request, await _run(work))


@router.post("/auth/pin")
async def pin_submit(request: Request, subject: MaybeAuthenticated) -> Response:
    if subject is None or not _is_person(subject):
        return RedirectResponse("/auth/login?next=%2Fauth%2Fpin", status_code=303)
    form = await _form(request)
    rt = runtime_of(request.app)

    def work() -> bool:
        with rt.hub() as conn, rt.core() as core:
            return pins.set_pin(
                conn, core, rt.cfg, subject, pin=form.get("pin", ""), confirm=form.get("pin2", ""), now=rt.clock()
            )

    try:
        replaced = await _run(work)
    except IdentityError as exc:
        return _pin_page(request, False, exc)
    done = "查询密码已修改。" if replaced else "查询密码已设置。"
    return _page(
        request,
        "message.html",
        title="查询密码",
        message=done + "您可在自助终端和12333电话查询时使用。",
        links=[("/auth/account", "返回")],
        logged_in=True,
    )


@router.get("/auth/password-reminder")
def password_reminder(request: Request, subject: MaybeAuthenticated, next: str = "") -> HTMLResponse:
    days = runtime_of(request.app).cfg.passwords.max_age_days
    later = _safe_next(next)
    # Logged in: the change page (current password); otherwise the SMS reset.
    change = PASSWORD_PAGE + "?next=" + quote(later, safe="") if _is_portal(subject) else "/auth/reset"
    return _page(
        request,
        "message.html",
        title="请修改密码",
        message=f"您的密码已使用超过{days}天，按安全要求请尽快修改。",
        links=[(change, "立即修改密码"), (later, "稍后修改，继续")],
        logged_in=True,
    )


# password change while logged in -----------------------------------------------------------------
def _is_portal(subject: Subject | None) -> bool:
    return subject is not None and subject.client_id == sessions.SESSION_CLIENT


def _password_page(
    request: Request,
    *,
    forced: bool,
    expires_at: str | None,
    next_url: str,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "password.html",
        status,
        title="修改密码",
        forced=forced,
        expires_at=expires_at,
        next=next_url,
        errors=errors or {},
        password_hint=_password_hint(runtime_of(request.app)),
        logged_in=True,
    )


def _forced_state(rt: IdentityRuntime, account_id: str) -> tuple[bool, str | None]:
    """Whether the account's password is administrator-issued, and until when (Shanghai time) it works."""
    with rt.hub() as conn:
        account = accounts.get(conn, account_id)
    if account is None or not account.password_must_change:
        return False, None
    until = account.password_expires_at
    return True, (until.astimezone(password_change.SHANGHAI).strftime("%Y-%m-%d %H:%M") if until else None)


@router.get(PASSWORD_PAGE)
async def password_form(request: Request, subject: MaybeAuthenticated, next: str = "") -> Response:
    """The logged-in user (person, unit operator, staff) changes the login password."""
    if subject is None or not _is_portal(subject):
        return RedirectResponse("/auth/login?next=" + quote(PASSWORD_PAGE, safe=""), status_code=303)
    forced, until = await _run(_forced_state, runtime_of(request.app), subject.account_id)
    return _password_page(request, forced=forced, expires_at=until, next_url=_safe_next(next) if next else "")


@router.post(PASSWORD_PAGE)
async def password_submit(request: Request, subject: MaybeAuthenticated) -> Response:
    if subject is None or not _is_portal(subject):
        return RedirectResponse("/auth/login?next=" + quote(PASSWORD_PAGE, safe=""), status_code=303)
    form = await _form(request)
    rt = runtime_of(request.app)
    next_url = _safe_next(form.get("next")) if form.get("next") else ""
    current, new = form.get("current", ""), form.get("password", "")
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = "请输入当前密码"
    if not new:
        errors["password"] = "请输入新密码"  # noqa: S105 (a message)
    elif new != form.get("password2", ""):
        errors["password2"] = "两次输入的新密码不一致"
    session_id = request.cookies.get(rt.cfg.settings.session_cookie)
    ip = _ip(request)

    def work() -> password_change.Changed:
        with rt.hub() as conn:
            changed = password_change.change_password(
                conn, rt.cfg, account_id=subject.account_id, current=current, new=new, now=rt.clock(),
                source=f"ip:{ip}", client_id=subject.client_id, channel=subject.channel.value,
            )  # fmt: skip
        password_change.end_other_sessions(
            rt.redis, rt.sessions, changed, keep_session=session_id, now=rt.clock(),
            marker_ttl_seconds=rt.cfg.settings.access_token_ttl_seconds + 60,
        )  # fmt: skip
        return changed

    if not errors:
        try:
            await _run(work)
        except WrongCurrentPassword as exc:
            errors["current"] = exc.detail
        except WeakPassword as exc:
            errors["password"] = exc.detail
        except IdentityError as exc:  # the temporary password ran out while the page was open
            errors["form"] = exc.detail
    if errors:
        forced, until = await _run(_forced_state, rt, subject.account_id)
        status = 400 if "current" in errors else 422
        return _password_page(request, forced=forced, expires_at=until, next_url=next_url, errors=errors, status=status)
    links = [(next_url or "/auth/account", "继续")]
    return _page(
        request,
        "message.html",
        title="密码已修改",
        message="密码已修改，请牢记新密码。您在其他设备或浏览器上的登录已退出。",
        links=links,
        logged_in=True,
    )


@router.post("/auth/logout")
async def logout(request: Request) -> Response:
    await _form(request)
    rt = runtime_of(request.app)
    session_id = request.cookies.get(rt.cfg.settings.session_cookie)
    if session_id:
        await request.app.state.redis.delete(sessions.key(rt.sessions, session_id))
    response = RedirectResponse("/auth/login", status_code=303)
    response.delete_cookie(
        rt.cfg.settings.session_cookie, path="/", secure=rt.secure_cookies, httponly=True, samesite="lax"
    )
    return response


# two-step code flows: registration, password reset, unlock --------------------------------------
StartStep = Callable[[IdentityRuntime, dict[str, str], str], tuple[str, str | None]]
VerifyStep = Callable[[IdentityRuntime, dict[str, str]], None]


@dataclass(frozen=True)
class CodeFlow:
    """A page flow of two steps: a form whose service sends an SMS code, then the code form.

    ``start(rt, form, ip) -> (ticket, masked phone or None)`` and ``verify(rt, form)`` run the services in
    the thread pool; an ``IdentityError`` of either shows the same form again with the message.
    """

    path: str  # the first form posts here, the code form to ``path + "/verify"``
    purpose: str  # what code.html explains (register, reset, unlock)
    title: str
    form_template: str
    code_title: str
    with_password: bool
    done_title: str
    done_message: str
    start: StartStep
    verify: VerifyStep


def _form_page(
    request: Request, flow: CodeFlow, kind: str = "person", error: IdentityError | None = None
) -> HTMLResponse:
    status = error.status if error else 200
    return _page(request, flow.form_template, status, title=flow.title, action=flow.path, kind=kind, error=error)


def _code_page(
    request: Request, flow: CodeFlow, ticket: str, phone: str | None, error: IdentityError | None = None
) -> HTMLResponse:
    extra: dict[str, Any] = {}
    if flow.with_password:
        extra = {"with_password": True, "password_hint": _password_hint(runtime_of(request.app))}
    return _page(
        request,
        "code.html",
        error.status if error else 200,
        title=flow.code_title,
        action=flow.path + "/verify",
        ticket=ticket,
        method="sms",
        phone_masked=phone,
        purpose=flow.purpose,
        next="",
        error=error,
        **extra,
    )


async def _flow_start(request: Request, flow: CodeFlow) -> Response:
    form = await _form(request)
    try:
        ticket, phone = await _run(flow.start, runtime_of(request.app), form, _ip(request))
    except IdentityError as exc:
        return _form_page(request, flow, _kind(form.get("kind")), exc)
    return _code_page(request, flow, ticket, phone)


async def _flow_verify(request: Request, flow: CodeFlow) -> Response:
    form = await _form(request)
    try:
        await _run(flow.verify, runtime_of(request.app), form)
    except IdentityError as exc:
        return _code_page(request, flow, form.get("ticket", ""), None, exc)
    return _page(request, "message.html", title=flow.done_title, message=flow.done_message)


def _passwords(form: dict[str, str]) -> str:
    if form.get("password", "") != form.get("password2", ""):
        raise WeakPassword("两次输入的密码不一致")
    return form.get("password", "")


def _start_registration(rt: IdentityRuntime, form: dict[str, str], ip: str) -> tuple[str, str | None]:
    with rt.hub() as conn, rt.core() as core:
        sent = registration.start_registration(
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
    return sent.ticket, sent.phone_masked


def _verify_registration(rt: IdentityRuntime, form: dict[str, str]) -> None:
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


def _start_reset(rt: IdentityRuntime, form: dict[str, str], ip: str) -> tuple[str, str | None]:
    with rt.hub() as conn, rt.core() as core:
        account = login.resolve(conn, core, rt.cfg, _credentials(form))
        sent = registration.start_reset(conn, core, rt.redis, rt.cfg, account, ip=ip, now=rt.clock())
    return sent.ticket, None  # no phone shown: the page must not tell whether the account exists


def _verify_reset(rt: IdentityRuntime, form: dict[str, str]) -> None:
    password = _passwords(form)
    with rt.hub() as conn:
        registration.complete_reset(
            conn, rt.cfg, ticket=form.get("ticket", ""), code=form.get("code", ""), password=password, now=rt.clock()
        )


def _start_unlock(rt: IdentityRuntime, form: dict[str, str], ip: str) -> tuple[str, str | None]:
    with rt.hub() as conn, rt.core() as core:
        sent = login.start_unlock(conn, core, rt.redis, rt.cfg, _credentials(form), ip=ip, now=rt.clock())
    # Not locked or unknown: a ticket that never verifies, so the reply is the same.
    return (sent.ticket if sent else secrets.token_urlsafe(24)), None


def _verify_unlock(rt: IdentityRuntime, form: dict[str, str]) -> None:
    with rt.hub() as conn:
        login.complete_unlock(conn, rt.cfg, ticket=form.get("ticket", ""), code=form.get("code", ""), now=rt.clock())


REGISTER = CodeFlow(
    path="/auth/register",
    purpose="register",
    title="个人注册",
    form_template="register.html",
    code_title="输入验证码并设置密码",
    with_password=True,
    done_title="注册成功",
    done_message="注册成功，请使用证件号码和密码登录。",
    start=_start_registration,
    verify=_verify_registration,
)
RESET = CodeFlow(
    path="/auth/reset",
    purpose="reset",
    title="找回密码",
    form_template="identify.html",
    code_title="输入验证码并设置密码",
    with_password=True,
    done_title="密码已重置",
    done_message="密码已重置，请使用新密码登录。",
    start=_start_reset,
    verify=_verify_reset,
)
UNLOCK = CodeFlow(
    path="/auth/unlock",
    purpose="unlock",
    title="账号解锁",
    form_template="identify.html",
    code_title="账号解锁",
    with_password=False,
    done_title="账号已解锁",
    done_message="账号已解锁，请登录；如非本人操作导致锁定，建议修改密码。",
    start=_start_unlock,
    verify=_verify_unlock,
)


@router.get("/auth/register")
def register_form(request: Request) -> HTMLResponse:
    """Person registration step 1: document, number and name (checked against the core)."""
    return _form_page(request, REGISTER)


@router.post("/auth/register")
async def register_submit(request: Request) -> Response:
    return await _flow_start(request, REGISTER)


@router.post("/auth/register/verify")
async def register_verify(request: Request) -> Response:
    return await _flow_verify(request, REGISTER)


@router.get("/auth/reset")
def reset_form(request: Request, kind: str = "person") -> HTMLResponse:
    return _form_page(request, RESET, _kind(kind))


@router.post("/auth/reset")
async def reset_submit(request: Request) -> Response:
    return await _flow_start(request, RESET)


@router.post("/auth/reset/verify")
async def reset_verify(request: Request) -> Response:
    return await _flow_verify(request, RESET)


@router.get("/auth/unlock")
def unlock_form(request: Request, kind: str = "person") -> HTMLResponse:
    return _form_page(request, UNLOCK, _kind(kind))


@router.post("/auth/unlock")
async def unlock_submit(request: Request) -> Response:
    return await _flow_start(request, UNLOCK)


@router.post("/auth/unlock/verify")
async def unlock_verify(request: Request) -> Response:
    return await _flow_verify(request, UNLOCK)
