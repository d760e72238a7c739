"""OAuth endpoints: authorize, token, revoke, introspect; OIDC discovery and the JWKS."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from authlib.oauth2.rfc6749 import OAuth2Error  # type: ignore[import-untyped]
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.identity.adapter import oauth2_request
from gateway.identity.deps import MaybeAuthenticated, current_subject
from gateway.identity.oauth_models import LoginUser
from gateway.identity.oauth_server import OAuthServer, _call
from gateway.identity.runtime import runtime_of
from hub.http.request_id import request_id_of
from hub.identity import accounts, sessions, subjects, userinfo

router = APIRouter(tags=["认证"])
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hub"'}


def _server(request: Request) -> OAuthServer:
    server = request.app.state.oauth_server
    assert isinstance(server, OAuthServer)
    return server


@router.get("/oauth/authorize", summary="授权端点（授权码 + PKCE）")
async def authorize(request: Request, subject: MaybeAuthenticated) -> Response:
    """Authorization endpoint. Without a portal session the user is sent to the login page first.

    All clients are the agency's own (app, portal), so no consent screen is shown."""
    if subject is None or subject.client_id != sessions.SESSION_CLIENT:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/auth/login?next=" + quote(target, safe=""), status_code=303)
    server = _server(request)
    oreq = await oauth2_request(request, runtime_of(request.app).issuer)

    def run(s: OAuthServer) -> Any:
        account = accounts.get(_call().conn, subject.account_id)
        if account is None or not account.active:
            return JSONResponse({"error": "access_denied"}, status_code=400)
        user = LoginUser(account, subject.auth_methods)
        try:
            grant = s.get_consent_grant(request=oreq, end_user=user)
        except OAuth2Error as error:
            # A bad client or redirect URI is never redirected to (RFC 6749 §4.1.2.1).
            return s.handle_error_response(oreq, error)
        return s.create_authorization_response(request=oreq, grant_user=user, grant=grant)

    return await run_in_threadpool(server.call, run)


@router.post("/oauth/token", summary="令牌端点")
async def token(request: Request) -> Response:
    """Token endpoint: ``authorization_code`` (with ``code_verifier``), ``refresh_token``, ``client_credentials``."""
    server = _server(request)
    oreq = await oauth2_request(request, runtime_of(request.app).issuer)
    return await run_in_threadpool(server.call, lambda s: s.create_token_response(oreq))


@router.post("/oauth/revoke", summary="令牌撤销（RFC 7009）")
async def revoke(request: Request) -> Response:
    """Revoke an access token or a refresh token (a refresh token revokes its whole grant)."""
    server = _server(request)
    oreq = await oauth2_request(request, runtime_of(request.app).issuer)
    return await run_in_threadpool(server.call, lambda s: s.create_endpoint_response("revocation", oreq))


@router.post("/oauth/introspect", summary="令牌内省（RFC 7662）")
async def introspect(request: Request) -> Response:
    """Introspection for confidential clients (their own tokens, or any with ``token:introspect``)."""
    server = _server(request)
    oreq = await oauth2_request(request, runtime_of(request.app).issuer)
    return await run_in_threadpool(server.call, lambda s: s.create_endpoint_response("introspection", oreq))


async def _userinfo(request: Request) -> Response:
    rt = runtime_of(request.app)
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":  # an access token only: no portal cookie here
        raise HTTPException(status_code=401, detail="请提供有效的访问令牌", headers=_CHALLENGE)
    subject = await current_subject(request)

    def work() -> dict[str, Any]:
        with rt.hub() as conn:
            claims = userinfo.claims(conn, subject, now=rt.clock(), request_id=request_id_of(request))
            conn.commit()
            return claims

    try:
        body = await run_in_threadpool(work)
    except userinfo.InsufficientScope:
        raise HTTPException(
            status_code=403,
            detail="访问令牌未包含 openid 授权范围",
            headers={"WWW-Authenticate": 'Bearer realm="hub", error="insufficient_scope", scope="openid"'},
        ) from None
    except userinfo.NoSuchUser:
        raise HTTPException(status_code=401, detail="访问令牌已失效", headers=_CHALLENGE) from None
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/oauth/userinfo", summary="OIDC 用户信息端点")
async def userinfo_get(request: Request) -> Response:
    """OIDC UserInfo (Bearer access token with ``openid``): only the claims its scopes allow, masked by channel.

    ``openid``: ``sub`` and the account kind; ``profile``: ``name``; ``phone``: ``phone_number``;
    ``person:read`` (persons) and ``unit:read`` (unit operators): the internal person or unit id.
    Every answer is audited."""
    return await _userinfo(request)


@router.post("/oauth/userinfo", summary="OIDC 用户信息端点（POST）")
async def userinfo_post(request: Request) -> Response:
    """The same as GET (OIDC Core §5.3.1 allows both)."""
    return await _userinfo(request)


@router.get("/.well-known/openid-configuration", summary="OIDC 发现文档")
def discovery(request: Request) -> dict[str, Any]:
    """OpenID Provider metadata (RFC 8414 / OIDC Discovery)."""
    issuer = runtime_of(request.app).issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/oauth/authorize",
        "token_endpoint": issuer + "/oauth/token",
        "revocation_endpoint": issuer + "/oauth/revoke",
        "introspection_endpoint": issuer + "/oauth/introspect",
        "jwks_uri": issuer + "/.well-known/jwks.json",
        "userinfo_endpoint": issuer + "/oauth/userinfo",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": sorted(subjects.ALL_SCOPES | subjects.OIDC_SCOPES),
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "nonce", "amr", *userinfo.CLAIMS],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "ui_locales_supported": ["zh-CN"],
    }


@router.get("/.well-known/jwks.json", summary="JWKS 公钥集")
def jwks(request: Request) -> JSONResponse:
    """The public keys that verify access tokens (the newest signs; older ones verify until retired)."""
    keys = runtime_of(request.app).signing_keys()
    return JSONResponse(keys.public_jwks(), headers={"Cache-Control": "public, max-age=60"})
