"""Bearer token (or portal session) → Subject, as a FastAPI dependency.

The identity area's ``current_subject`` (gateway/identity/deps.py: JWKS cache, revocation, portal
sessions) is the authority whenever it is mounted. The thin verifier below is used only when the
app's state carries an explicit ``signing_keys`` override (a stand-alone app without the identity
area, or a test that must not touch the identity tables); delete it once nothing needs that.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import Depends, Request

from gateway.identity.deps import current_subject, subject_unchecked_revocation, unauthenticated, verified_bearer
from hub.access.ratelimit import Admission, RateLimiter, Revoked
from hub.access.subject import Subject
from hub.errors import Unauthenticated
from hub.identity.tokens import InvalidToken, SigningKeys, verify_access_token


def issuer_audience(app_state: object) -> tuple[str, str]:
    auth = getattr(getattr(app_state, "settings", None), "auth", None)
    issuer = str(getattr(auth, "issuer", None) or "hub").rstrip("/")
    return issuer, str(getattr(auth, "audience", None) or "hub")


def _verify(request: Request, keys: SigningKeys) -> Subject:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated()
    issuer, audience = issuer_audience(request.app.state)
    try:
        return verify_access_token(token.strip(), keys, issuer=issuer, audience=audience)
    except InvalidToken:
        raise Unauthenticated() from None


async def authenticate(request: Request) -> Subject:
    """The caller; 401 problem+json (``WWW-Authenticate: Bearer``) when there is none."""
    cached = getattr(request.state, "subject", None)
    if isinstance(cached, Subject):
        return cached  # REST and the GraphQL context resolve the same caller once per request
    override: SigningKeys | None = getattr(request.app.state, "signing_keys", None)
    if override is not None:
        subject = _verify(request, override)
    elif hasattr(request.app.state, "identity"):
        subject = await current_subject(request)
    else:
        raise Unauthenticated()
    request.state.subject = subject
    return subject


async def authenticate_and_limit(request: Request, route_class: str) -> Subject:
    """The caller, admitted by the rate limiter of ``route_class``: for a Bearer token the revocation check
    rides in the limiter's script call (one Redis round trip for both); 401 when revoked, 429 when limited."""
    cached = getattr(request.state, "subject", None)
    markers: tuple[str, ...] = ()
    if isinstance(cached, Subject):
        subject = cached  # already checked in full by ``authenticate``
    elif _identity_verifies(request.app.state):
        subject, markers = await subject_unchecked_revocation(request)
    else:
        subject = await authenticate(request)
    await _admit(request.app.state, route_class, subject, request.client.host if request.client else None, markers)
    request.state.subject = subject
    return subject


async def bearer_and_begin(
    app_state: Any, token: str, ip: str | None, route_class: str
) -> tuple[Subject, Admission] | None:
    """``authenticate_and_limit`` for a request whose first Authorization header is ``Bearer <token>`` (the
    gateway's fast path read the headers once already), with the rate limiter's answer begun but not
    awaited: the caller may start its read meanwhile, and must await the admission before it decides or
    answers anything (it raises 401 revoked, 429 limited). None where ``authenticate_and_limit`` would take
    another path (a signing-keys override without the identity area): the caller then calls it."""
    if not _identity_verifies(app_state):
        return None
    subject, markers = await verified_bearer(app_state.identity, token)
    return subject, _admission(app_state, route_class, subject, ip, markers)


def _identity_verifies(app_state: Any) -> bool:
    """Whether tokens are checked by the identity area (JWKS and revocation) rather than an override."""
    return getattr(app_state, "signing_keys", None) is None and hasattr(app_state, "identity")


async def _admit(app_state: Any, route_class: str, subject: Subject, ip: str | None, markers: tuple[str, ...]) -> None:
    await _admission(app_state, route_class, subject, ip, markers)


def _admission(
    app_state: Any, route_class: str, subject: Subject, ip: str | None, markers: tuple[str, ...]
) -> Admission:
    """The rate limiter's check of this caller, begun now (its Redis call joins this loop pass's batch)."""
    limiter: RateLimiter = app_state.rate_limiter
    begun = limiter.begin(route_class, {"client": subject.client_id, "subject": subject.account_id, "ip": ip}, markers)
    return begun.then(_revoked_is_401)


async def _revoked_is_401(admission: Awaitable[None]) -> None:
    try:
        await admission
    except Revoked:
        raise unauthenticated() from None


CurrentSubject = Annotated[Subject, Depends(authenticate)]
