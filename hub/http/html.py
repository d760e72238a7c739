"""What every server-rendered HTML page shares: security headers, the CSP nonce and a plain error page.

The Content-Security-Policy allows no script at all (the pages work without JavaScript), styles only
from an element carrying this response's nonce, images from the site and ``data:`` (the captcha), and
no framing. ``form-action`` is left out on purpose: a login form's POST ends in a redirect chain to
an OAuth client's registered redirect URI (an app's own scheme), which browsers check against
``form-action`` too; the forms post only to fixed local paths and are CSRF-protected.
"""

from __future__ import annotations

import secrets
from html import escape

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, Response

_NONCE_KEY = "csp_nonce"
SITE_NAME = "机关事业单位养老保险公共服务平台"


def csp_nonce(conn: HTTPConnection) -> str:
    """This request's CSP nonce (made once per request)."""
    state = conn.scope.setdefault("state", {})
    nonce = state.get(_NONCE_KEY)
    if not isinstance(nonce, str):
        nonce = secrets.token_urlsafe(18)
        state[_NONCE_KEY] = nonce
    return nonce


def content_security_policy(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    )


def secure_page(conn: HTTPConnection, response: Response) -> Response:
    """Add the headers every HTML page carries (the CSP with this request's nonce, no caching, no framing)."""
    response.headers["Content-Security-Policy"] = content_security_policy(csp_nonce(conn))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def error_page(conn: HTTPConnection, status: int, title: str, detail: str, request_id: str) -> Response:
    """A plain Chinese error page (no template engine needed); front ends may pass their own renderer."""
    nonce = csp_nonce(conn)
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - {SITE_NAME}</title>"
        f'<style nonce="{nonce}">body{{font-family:"PingFang SC","Microsoft YaHei",sans-serif;max-width:30em;'
        "margin:2em auto;padding:0 1em;color:#222}.error{background:#fde8e8;border:1px solid #d33;padding:.6em}"
        ".note{color:#555;font-size:.9em}</style></head><body>"
        f"<header><strong>{SITE_NAME}</strong></header><main><h1>{escape(title)}</h1>"
        f'<p class="error" role="alert">{escape(detail)}</p>'
        f'<p class="note">请求编号：{escape(request_id)}（联系客服时请提供）</p>'
        '<p><a href="/">返回首页</a></p></main></body></html>'
    )
    return secure_page(conn, HTMLResponse(body, status_code=status))
