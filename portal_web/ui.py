"""Rendering of the portal's pages: one Jinja2 environment, the page chrome, CSRF, CSP and large text.

Every page is server-rendered and works without JavaScript. The large-text, high-contrast mode (适老化)
is a cookie the visitor switches with a plain form on every page; the layout reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hub.access.subject import Subject, SubjectKind
from hub.http import html
from hub.http.csrf import FIELD as CSRF_FIELD
from hub.http.csrf import CsrfProtect

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEXT_COOKIE = "hub_text"
LARGE = "large"

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
CsrfOf = Callable[[Any], CsrfProtect]  # app -> the CSRF protector the login pages use too


def yuan(value: Decimal | int | None) -> str:
    """Money as the clerk reads it: thousands separators and two decimals (¥ is in the column head)."""
    if value is None:
        return "—"
    return f"{Decimal(value):,.2f}"


def period(value: int | None) -> str:
    return "—" if value is None else f"{value // 100}年{value % 100:02d}月"


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant as the clerk's wall clock shows it (Asia/Shanghai); stored instants are UTC."""
    return "—" if value is None else value.astimezone(SHANGHAI).strftime(fmt)


templates.env.filters["yuan"] = yuan
templates.env.filters["period"] = period
templates.env.filters["local_time"] = local_time


def large_text(conn: HTTPConnection) -> bool:
    return conn.cookies.get(TEXT_COOKIE) == LARGE


def csrf_of(request: Request) -> CsrfProtect:
    getter: CsrfOf = request.app.state.portal_csrf
    return getter(request.app)


def page(request: Request, name: str, *, subject: Subject | None, status: int = 200, **context: Any) -> HTMLResponse:
    csrf = csrf_of(request)
    context.update(
        csp_nonce=html.csp_nonce(request),
        csrf_field=CSRF_FIELD,
        csrf_token=csrf.token(request),
        large_text=large_text(request),
        subject=subject,
        site_name=html.SITE_NAME,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )
    response = templates.TemplateResponse(request, name, context, status_code=status)
    csrf.set_cookie(request, response)
    return html.secure_page(request, response)  # type: ignore[return-value]


def login_url(kind: SubjectKind, next_path: str) -> str:
    return f"/auth/login?kind={kind.value}&next={quote(next_path, safe='')}"


HOMES = {
    SubjectKind.UNIT_OPERATOR: "/portal/unit",
    SubjectKind.PERSON: "/portal/me",
    SubjectKind.STAFF: "/portal/staff",
}


def error_renderer(login_kind: SubjectKind) -> Callable[[HTTPConnection, int, str, str, str], Response]:
    """The portal's error pages: a 401 sends the visitor to the login page and back; others get a page."""

    def render(conn: HTTPConnection, status: int, title: str, detail: str, request_id: str) -> Response:
        if status == 401:
            here = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
            return RedirectResponse(login_url(login_kind, here), status_code=303)
        context = {
            "request": conn,
            "status": status,
            "title": title,
            "detail": detail,
            "request_id": request_id,
            "csp_nonce": html.csp_nonce(conn),
            "large_text": large_text(conn),
            "subject": None,
            "site_name": html.SITE_NAME,
            "here": conn.url.path,
            "home": HOMES.get(login_kind, "/"),
        }
        response = templates.TemplateResponse(conn, "portal/error.html", context, status_code=status)  # type: ignore[arg-type]
        return html.secure_page(conn, response)

    return render
