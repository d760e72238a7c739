"""``current_subject``: the FastAPI dependency every protected route uses.

A Bearer access token (JWT, verified against the cached JWKS; a token of a revoked grant or a revoked
token id is refused) or the portal's server-side session cookie (idle 30 min, absolute 10 h) yields
the caller's ``Subject``; anything else is 401. No database is touched on this path.

A restricted session (opened with an administrator-issued password) is the caller only on the password
change page; anywhere else ``PasswordChangeRequired`` answers: a redirect to that page for a browser, a
403 problem for a program (``password_change_required``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, ClassVar
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from gateway.identity.runtime import IdentityRuntime, runtime_of
from hub.access.subject import Subject
from hub.errors import TYPE_BASE, HubError
from hub.http.problem import html_area, problem_response
from hub.http.request_id import request_id_of
from hub.identity import sessions
from hub.identity.tokens import InvalidToken, SigningKeys, verify_access_token_claims

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hub"'}

PASSWORD_PAGE = "/auth/password"  # noqa: S105 (a page path, not a password)
# What a restricted session may reach: the change page itself (logout needs no caller).
RESTRICTED_PATHS = frozenset({PASSWORD_PAGE})


class PasswordChangeRequired(HTTPException):
    """A restricted session outside the change page (rendered by ``password_change_required``)."""

    def __init__(self) -> None:
        super().__init__(status_code=403, detail=PasswordChangeProblem.default_detail)


class PasswordChangeProblem(HubError):
    type: ClassVar[str] = TYPE_BASE + "password-change-required"
    title: ClassVar[str] = "请先修改密码"
    status: ClassVar[int] = 403
    default_detail: ClassVar[str] = "您的密码由管理员设置，须先修改密码才能继续使用"


def _browser(request: Request) -> bool:
    if html_area(request) is not None or request.url.path == "/oauth/authorize":
        return True
    return "text/html" in request.headers.get("accept", "")


async def password_change_required(request: Request, exc: Exception) -> Response:
    """A browser goes to the change page (and, for a page it asked for, back there afterwards); a program
    gets a 403 problem+json ``password-change-required``."""
    if not _browser(request):
        return problem_response(PasswordChangeProblem(), request_id_of(request))
    target = PASSWORD_PAGE
    if request.method == "GET":
        target += "?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
    return RedirectResponse(target, status_code=303)


def _unauthenticated() -> HTTPException:
    return HTTPException(status_code=401, detail="请先登录或提供有效的访问令牌", headers=_CHALLENGE)


async def _keys(rt: IdentityRuntime, refresh: bool = False) -> SigningKeys:
    cached = None if refresh else rt.cached_keys()
    if cached is not None:
        return cached
    return await run_in_threadpool(rt.signing_keys, refresh=refresh)


async def _verified(rt: IdentityRuntime, token: str) -> tuple[Subject, tuple[str, ...]]:
    """The subject of a valid access token and the Redis keys whose existence would revoke it."""
    s = rt.cfg.settings
    now = rt.clock().timestamp()
    try:
        subject, claims = rt.verified.verify(token, await _keys(rt), issuer=rt.issuer, audience=s.audience, now=now)
    except InvalidToken:
        # Perhaps signed by a key this process has not loaded yet (another node rotated): reload once.
        try:
            subject, claims = verify_access_token_claims(
                token, await _keys(rt, refresh=True), issuer=rt.issuer, audience=s.audience, now=now
            )
        except InvalidToken:
            raise _unauthenticated() from None
    # The token itself, its client (disabled by the security administrator) and its grant.
    markers: tuple[str, ...] = (
        f"{s.redis_prefix}revoked:jti:{claims.get('jti')}",
        f"{s.redis_prefix}revoked:client:{subject.client_id}",
    )
    if subject.grant_id:
        markers += (f"{s.redis_prefix}revoked:grant:{subject.grant_id}",)
    return subject, markers


async def _from_bearer(request: Request, rt: IdentityRuntime, token: str) -> Subject:
    subject, markers = await _verified(rt, token)
    try:
        revoked = await request.app.state.redis.exists(*markers)
    except RedisError:
        revoked = 0  # reads keep working while Redis is down; tokens live 5 minutes
    if revoked:
        raise _unauthenticated()
    return subject


async def _from_session(request: Request, rt: IdentityRuntime, session_id: str) -> Subject:
    policy = rt.sessions
    key = sessions.key(policy, session_id)
    now = rt.clock()
    try:
        raw = await request.app.state.redis.get(key)
        if raw is None:
            raise _unauthenticated()
        session = sessions.decode(raw)
        generation = await request.app.state.redis.get(sessions.generation_key(policy, session.subject.account_id))
        if not session.live(policy, now) or sessions.revoked(session, generation):
            await request.app.state.redis.delete(key)
            raise _unauthenticated()
        touched = sessions.Session(
            session.subject, session.created, now.timestamp(), session.generation, session.restricted
        )
        await request.app.state.redis.set(key, sessions.encode(touched), ex=sessions.ttl_seconds(policy))
    except RedisError:
        raise HTTPException(status_code=503, detail="会话服务暂时不可用，请稍后再试") from None
    if session.restricted and request.url.path not in RESTRICTED_PATHS:
        raise PasswordChangeRequired()
    return session.subject


async def current_subject(request: Request) -> Subject:
    """The authenticated caller; 401 (with ``WWW-Authenticate: Bearer``) when there is none."""
    rt = runtime_of(request.app)
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return await _from_bearer(request, rt, auth[7:].strip())
    session_id = request.cookies.get(rt.cfg.settings.session_cookie)
    if session_id:
        return await _from_session(request, rt, session_id)
    raise _unauthenticated()


async def subject_unchecked_revocation(request: Request) -> tuple[Subject, tuple[str, ...]]:
    """Like ``current_subject`` but, for a Bearer token, leaves the revocation check to the caller: it
    returns the Redis keys whose existence revokes the token, for the rate limiter's script to test in
    the same round trip (``hub.access.ratelimit``). A caller that does not check them must not use this."""
    rt = runtime_of(request.app)
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return await _verified(rt, auth[7:].strip())
    return await current_subject(request), ()


async def verified_bearer(rt: IdentityRuntime, token: str) -> tuple[Subject, tuple[str, ...]]:
    """``subject_unchecked_revocation`` for the text after ``Bearer `` of the first Authorization header,
    taken from the headers by the caller (the same rule: the caller must check the revocation keys)."""
    return await _verified(rt, token.strip())


def unauthenticated() -> HTTPException:
    """The 401 of a missing, invalid or revoked credential."""
    return _unauthenticated()


async def optional_subject(request: Request) -> Subject | None:
    """The caller if authenticated, else None (for public pages that adapt to a logged-in user)."""
    try:
        return await current_subject(request)
    except PasswordChangeRequired:
        raise  # a page that adapts to a logged-in user is still not open to a restricted session
    except HTTPException:
        return None


def require_scopes(*needed: str) -> Callable[[Subject], Awaitable[Subject]]:
    """A dependency: the caller, if its token or session holds every scope in ``needed`` (else 403)."""

    async def dependency(subject: Annotated[Subject, Depends(current_subject)]) -> Subject:
        if not set(needed) <= subject.scopes:
            raise HTTPException(status_code=403, detail="访问令牌的授权范围不足")
        return subject

    return dependency


Authenticated = Annotated[Subject, Depends(current_subject)]
MaybeAuthenticated = Annotated[Subject | None, Depends(optional_subject)]
