"""CSRF protection for server-rendered HTML forms (signed double-submit, bound to a pre-session cookie).

A browser gets a random id in a cookie of its own (``HttpOnly``, ``SameSite=Lax``, ``Secure`` and the
``__Host-`` name prefix outside development, so a sibling subdomain cannot plant one). Every form
carries a token ``<issued>.<mac>`` where ``mac`` is HMAC-SHA256 over the cookie id and the issue time
under a server key; a POST is accepted only when its token verifies against the cookie it came with
(constant-time compare) and is younger than ``max_age``. A cross-site page can neither read the
cookie nor compute a token for it. As defence in depth, a request that the browser itself marks as
cross-site (``Sec-Fetch-Site``) or that names another ``Origin`` is refused as well.

Framework-light: it needs only a Starlette ``Request`` and ``Response``. Use::

    csrf = CsrfProtect(key, secure=True)
    token = csrf.token(request)             # put in the form as <input name="csrf_token">
    csrf.set_cookie(request, response)      # on the page response (only when a new id was made)
    csrf.check(request, form)               # first thing in every POST handler; raises CsrfFailed
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from hub.errors import TYPE_BASE, HubError

FIELD = "csrf_token"
_STATE_KEY = "csrf_cookie_id"
_NEW_KEY = "csrf_cookie_new"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class CsrfFailed(HubError):
    """A form POST without a valid token (a forged cross-site request or an expired page)."""

    type = TYPE_BASE + "csrf-failed"
    title = "页面已失效"
    status = 403
    default_detail = "为保护您的账号安全，本次提交未被受理。请返回上一页，刷新后重新填写提交。"


class CsrfProtect:
    def __init__(
        self,
        key: bytes,
        *,
        secure: bool,
        cookie_name: str = "hub_csrf",
        max_age_seconds: int = 4 * 3600,
        clock: Callable[[], float] = time.time,
        trusted_origins: tuple[str, ...] = (),
    ) -> None:
        if len(key) < 16:
            raise ValueError("the CSRF key must have at least 16 bytes")
        self._key = key
        self.secure = secure
        # ``__Host-`` cookies must be Secure, host-only and for path "/": browsers refuse them otherwise.
        self.cookie_name = f"__Host-{cookie_name}" if secure else cookie_name
        self.max_age = max_age_seconds
        self.clock = clock
        # The public origin(s) (behind a proxy the Host header may be the upstream's, not the browser's).
        self.trusted_origins = frozenset(_origin(o) for o in trusted_origins)

    # issuing ---------------------------------------------------------------------------------
    def _cookie_id(self, request: Request) -> str:
        known = request.scope.setdefault("state", {}).get(_STATE_KEY)
        if isinstance(known, str):
            return known
        given = request.cookies.get(self.cookie_name, "")
        if not (20 <= len(given) <= 64 and all(c.isalnum() or c in "-_" for c in given)):
            given = secrets.token_urlsafe(32)
            request.scope["state"][_NEW_KEY] = True
        request.scope["state"][_STATE_KEY] = given
        return given

    def _mac(self, cookie_id: str, issued: int) -> str:
        message = f"csrf\x00{cookie_id}\x00{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def token(self, request: Request) -> str:
        """A token for a form on the page answering ``request`` (creates the cookie id when missing)."""
        issued = int(self.clock())
        return f"{issued}.{self._mac(self._cookie_id(request), issued)}"

    def set_cookie(self, request: Request, response: Response) -> None:
        """Send the cookie if ``token`` had to make a new id for this request."""
        state = request.scope.get("state", {})
        if not state.get(_NEW_KEY):
            return
        response.set_cookie(
            self.cookie_name,
            str(state[_STATE_KEY]),
            httponly=True,
            secure=self.secure,
            samesite="lax",
            path="/",
        )

    # checking --------------------------------------------------------------------------------
    def _same_origin(self, request: Request) -> bool:
        if request.headers.get("sec-fetch-site", "") == "cross-site":
            return False
        origin = request.headers.get("origin")
        if origin is None:
            return True  # older browsers and non-browser clients: the token decides
        if _origin(origin) in self.trusted_origins:
            return True
        return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")

    def valid(self, request: Request, token: str) -> bool:
        cookie_id = request.cookies.get(self.cookie_name, "")
        issued_text, _, mac = token.partition(".")
        if not cookie_id or not issued_text.isdigit() or not mac:
            return False
        issued = int(issued_text)
        age = self.clock() - issued
        if age < -60 or age > self.max_age:
            return False
        return hmac.compare_digest(mac, self._mac(cookie_id, issued))

    def check(self, request: Request, form: Mapping[str, str]) -> None:
        """Raise ``CsrfFailed`` (403) unless ``form`` holds a valid token for this browser."""
        if not self._same_origin(request) or not self.valid(request, form.get(FIELD, "")):
            raise CsrfFailed()
