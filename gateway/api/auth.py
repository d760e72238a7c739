"""Bearer token (or portal session) → Subject, as a FastAPI dependency.

The identity area's ``current_subject`` (gateway/identity/deps.py: JWKS cache, revocation, portal
sessions) is the authority whenever it is mounted. The thin verifier below is used only when the
app's state carries an explicit ``signing_keys`` override (a stand-alone app without the identity
area, or a test that must not touch the identity tables); delete it once nothing needs that.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.identity.deps import current_subject
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


CurrentSubject = Annotated[Subject, Depends(authenticate)]
