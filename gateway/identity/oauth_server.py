"""The OAuth 2.1-aligned authorization server on authlib's framework-free core.

Grants: authorization code with PKCE (S256 only, required of every client), client credentials, and
refresh tokens that rotate with reuse detection. No implicit grant, no password grant. Access tokens
are ``hub.identity.tokens`` JWTs (5 minutes). Every authlib call runs inside ``OAuthServer.call``,
which provides the hub-DB connection and the request time to the callbacks through a context variable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import psycopg
from authlib.oauth2 import rfc7009, rfc7662  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AuthorizationServer,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749 import (
    grants as rfc6749_grants,
)
from authlib.oauth2.rfc6749.util import scope_to_list  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from joserfc import jwt
from redis.exceptions import RedisError

from gateway.identity.adapter import handle_response
from gateway.identity.oauth_models import AccessRecord, CodeRecord, LoginUser, OAuthClient, RefreshRecord
from gateway.identity.runtime import IdentityRuntime
from hub.audit import sync_writer as audit
from hub.http.request_id import current_request_id
from hub.identity import accounts, clients, grants, subjects
from hub.identity.tokens import ALGORITHM, InvalidToken, issue_access_token, verify_access_token_claims

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Call:
    conn: psycopg.Connection[Any]
    now: datetime
    request_id: str = ""
    code: str | None = None  # the authorization code being redeemed in this call, if any


_current: ContextVar[_Call] = ContextVar("oauth_call")


def _call() -> _Call:
    return _current.get()


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE required of every client, S256 only (OAuth 2.1 §4.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: CodeRecord) -> str:
        return authorization_code.code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: CodeRecord) -> str:
        return authorization_code.code.code_challenge_method


class PasswordChangeRequired(InvalidGrantError):  # type: ignore[misc]
    """No token for an account whose administrator-issued password is not changed yet.

    ``error_description`` must be ASCII (RFC 6749 §5.2); ``message`` carries the Chinese text for the user.
    """

    MESSAGE = "您的密码由管理员设置，请先登录网上服务平台修改密码后再使用"

    def __init__(self) -> None:
        super().__init__("password_change_required: change the administrator-issued password at /auth/password")

    def get_body(self) -> list[tuple[str, str]]:
        return [*super().get_body(), ("message", self.MESSAGE)]


def _token_user(account: accounts.Account | None) -> accounts.Account | None:
    """The account tokens may be issued for; PasswordChangeRequired while its password is temporary."""
    if account is None or not account.active:
        return None
    if account.password_must_change:
        raise PasswordChangeRequired()
    return account


class AuthorizationCodeGrant(rfc6749_grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        server: OAuthServer = self.server
        user: LoginUser = request.user
        c = _call()
        grants.save_code(
            c.conn,
            server.rt.cfg.hmac_key,
            code,
            grants.AuthorizationCode(
                client_id=request.client.client_id,
                account_id=user.account.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                nonce=request.payload.data.get("nonce"),
                auth_methods=user.auth_methods,
                expires_at=c.now + timedelta(seconds=server.rt.cfg.settings.auth_code_ttl_seconds),
            ),
        )
        server.audit("oauth.code.issue", "ok", client=request.client, account=user.account)
        c.conn.commit()

    def query_authorization_code(self, code: str, client: OAuthClient) -> CodeRecord | None:
        server: OAuthServer = self.server
        c = _call()
        key = server.rt.cfg.hmac_key
        found = grants.find_code(c.conn, key, code, client.client_id, c.now)
        # Single use, decided atomically here: of two concurrent redemptions only one finds the code.
        if found is None or not grants.use_code(c.conn, key, code, c.now):
            c.conn.rollback()
            replay = grants.mark_code_replayed(c.conn, key, code, c.now)
            if replay is not None:
                # RFC 6749 §4.1.2: deny, and revoke the tokens already issued from this code.
                account_id, grant_id = replay
                if grant_id is not None:
                    grants.revoke_grant(c.conn, grant_id, "authorization code replayed", c.now)
                server.audit(
                    "oauth.code.replay",
                    "grant_revoked" if grant_id else "denied",
                    client=client,
                    account_id=account_id,
                    target_id=grant_id or "",
                )
                c.conn.commit()
                if grant_id is not None:
                    server.mark_revoked("grant", grant_id)
                log.warning("authorization code replayed; grant %s revoked", grant_id or "(none yet)")
            return None
        c.code = code
        server.audit("oauth.code.redeem", "ok", client=client, account_id=found.account_id)
        c.conn.commit()
        return CodeRecord(found)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Already marked used in ``query_authorization_code``."""

    def authenticate_user(self, authorization_code: CodeRecord) -> LoginUser | None:
        account = _token_user(accounts.get(_call().conn, authorization_code.code.account_id))
        if account is None:
            return None
        return LoginUser(account, authorization_code.code.auth_methods, nonce=authorization_code.code.nonce)


class RefreshTokenGrant(rfc6749_grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        server: OAuthServer = self.server
        c = _call()
        found = grants.find_refresh_token(c.conn, server.rt.cfg.hmac_key, refresh_token)
        if found is None or found.grant.revoked or found.expires_at <= c.now:
            return None
        client = self.request.client
        if found.used or not grants.use_refresh_token(c.conn, found.token_hash, c.now):
            # Reuse of a rotated token: it leaked or was replayed. Revoke the whole grant.
            c.conn.rollback()
            server.audit(
                "oauth.refresh.reuse",
                "grant_revoked",
                client=client,
                account_id=found.grant.account_id or "",
                target_id=found.grant.id,
            )
            server.revoke_grant(found.grant.id, "refresh token reuse")
            log.warning("refresh token reuse detected; grant %s revoked", found.grant.id)
            return None
        server.audit(
            "oauth.refresh.rotate",
            "ok",
            client=client,
            account_id=found.grant.account_id or "",
            target_id=found.grant.id,
        )
        c.conn.commit()
        return RefreshRecord(found, c.now)

    def authenticate_user(self, refresh_token: RefreshRecord) -> LoginUser | None:
        grant = refresh_token.token.grant
        account = _token_user(accounts.get(_call().conn, grant.account_id) if grant.account_id else None)
        if account is None:
            return None
        return LoginUser(account, grant.auth_methods, grant.id)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Already marked used in ``authenticate_refresh_token``."""


class ClientCredentialsGrant(rfc6749_grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if not requested <= self.request.client.client.scopes:
            raise InvalidScopeError()


class _TokenLookup:
    """Resolve a presented token (refresh token or access JWT) for revocation and introspection."""

    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")
    server: OAuthServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> RefreshRecord | AccessRecord | None:
        c = _call()
        rt = self.server.rt
        if token_string.startswith("rt_"):
            found = grants.find_refresh_token(c.conn, rt.cfg.hmac_key, token_string)
            return RefreshRecord(found, c.now) if found else None
        try:
            _, claims = verify_access_token_claims(
                token_string,
                rt.signing_keys(),
                issuer=rt.issuer,
                audience=rt.cfg.settings.audience,
                now=c.now.timestamp(),
            )
        except InvalidToken:
            return None
        revoked = (
            grants.jti_revoked(c.conn, str(claims.get("jti"))) or clients.get(c.conn, str(claims.get("cid"))) is None
        )
        gid = claims.get("gid")
        if isinstance(gid, str) and gid.startswith("gr_"):
            grant = grants.get_grant(c.conn, gid)
            revoked = revoked or grant is None or grant.revoked
        return AccessRecord(claims, revoked, c.now.timestamp())


class RevocationEndpoint(_TokenLookup, rfc7009.RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def revoke_token(self, token: RefreshRecord | AccessRecord, request: Any) -> None:
        c = _call()
        if isinstance(token, RefreshRecord):
            grant = token.token.grant
            self.server.audit(
                "oauth.revoke",
                "ok",
                client=request.client,
                account_id=grant.account_id or "",
                target_id=grant.id,
                detail="refresh_token",
            )
            self.server.revoke_grant(grant.id, "revoked by client")
            return
        jti, exp = str(token.claims.get("jti")), token.claims.get("exp")
        expires = datetime.fromtimestamp(exp if isinstance(exp, int) else 0, UTC)
        grants.revoke_jti(c.conn, jti, expires)
        self.server.audit(
            "oauth.revoke",
            "ok",
            client=request.client,
            account_id=str(token.claims.get("sub", "")),
            target_type="access_token",
            target_id=jti,
            detail="access_token",
        )
        c.conn.commit()
        self.server.mark_revoked("jti", jti)


class IntrospectionEndpoint(_TokenLookup, rfc7662.IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def check_permission(self, token: RefreshRecord | AccessRecord, client: OAuthClient, request: Any) -> bool:
        """A client may introspect its own tokens; a resource server holding ``token:introspect`` any."""
        return bool(token.client_id == client.client_id or "token:introspect" in client.client.scopes)

    def introspect_token(self, token: RefreshRecord | AccessRecord) -> dict[str, Any]:
        if isinstance(token, RefreshRecord):
            grant = token.token.grant
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": grant.client_id,
                "scope": grant.scope,
                "sub": grant.account_id,
                "exp": int(token.token.expires_at.timestamp()),
            }
        keep = ("iss", "aud", "sub", "iat", "exp", "jti", "scope", "knd", "cid", "chn", "pid", "uid", "rol", "gid")
        body = {k: token.claims[k] for k in keep if k in token.claims}
        body.update(active=True, token_type="access_token", client_id=token.client_id)  # noqa: S106
        return body


OPENID = "openid"


def id_token(rt: IdentityRuntime, user: LoginUser, audience: str, now: datetime) -> str:
    """An OIDC ID token (ES256, same keys as the access tokens): who logged in, how, for which client.

    ``sub`` is the hub account id; no name, ID number or phone is put in it.
    """
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": rt.issuer,
        "sub": user.account.id,
        "aud": audience,
        "iat": issued,
        "exp": issued + rt.cfg.settings.access_token_ttl_seconds,
        "amr": list(user.auth_methods),
        "knd": user.account.kind.value,
    }
    if user.nonce:
        claims["nonce"] = user.nonce
    key = rt.signing_keys().current
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key)


class OAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, rt: IdentityRuntime) -> None:
        super().__init__(scopes_supported=sorted(subjects.ALL_SCOPES | subjects.OIDC_SCOPES | {"token:introspect"}))
        self.rt = rt
        self.register_token_generator("default", self._generate_token)
        self.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)

    # authlib's framework hooks ---------------------------------------------------------------
    def query_client(self, client_id: str) -> OAuthClient | None:
        found = clients.get(_call().conn, client_id)
        return OAuthClient(found) if found else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Tokens are stored by the generator (grant row, refresh-token hash); nothing more to save."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""

    def handle_response(self, status: int, body: Any, headers: Any) -> Any:
        return handle_response(status, body, headers)

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # built by gateway.identity.adapter before the call

    def create_json_request(self, request: Any) -> Any:
        return request

    # running a call --------------------------------------------------------------------------
    @contextmanager
    def _context(self) -> Iterator[None]:
        with self.rt.hub() as conn:
            token = _current.set(_Call(conn, self.rt.clock(), current_request_id.get()))
            try:
                yield
            finally:
                _current.reset(token)

    def call(self, fn: Callable[[OAuthServer], T]) -> T:
        """Run ``fn(self)`` with a hub-DB connection and the request time (in a worker thread)."""
        with self._context():
            return fn(self)

    # grants and revocation -------------------------------------------------------------------
    def revoke_grant(self, grant_id: str, reason: str) -> None:
        c = _call()
        grants.revoke_grant(c.conn, grant_id, reason, c.now)
        c.conn.commit()
        self.mark_revoked("grant", grant_id)

    def mark_revoked(self, kind: str, value: str) -> None:
        """Tell the resource side (``current_subject``) at once; the DB row is the durable record."""
        s = self.rt.cfg.settings
        try:
            self.rt.redis.set(f"{s.redis_prefix}revoked:{kind}:{value}", "1", ex=s.access_token_ttl_seconds + 60)
        except RedisError:
            log.warning("revocation marker not written (Redis unavailable); introspection still refuses it")

    def clear_revoked(self, kind: str, value: str) -> None:
        """Withdraw a marker (a client enabled again may use the tokens it is issued from now on)."""
        s = self.rt.cfg.settings
        try:
            self.rt.redis.delete(f"{s.redis_prefix}revoked:{kind}:{value}")
        except RedisError:
            log.warning("revocation marker not cleared (Redis unavailable); it expires with the token lifetime")

    def audit(
        self,
        action: str,
        result: str,
        *,
        client: OAuthClient | None,
        account: accounts.Account | None = None,
        account_id: str = "",
        target_type: str = "oauth_grant",
        target_id: str = "",
        detail: str = "",
    ) -> None:
        """One OAuth event in the audit chain, inside this call's transaction (the caller commits).

        Only ids: never a code, a token or a personal number. ``detail`` goes into ``purpose``.
        """
        c = _call()
        if account is None and account_id:
            account = accounts.get(c.conn, account_id)
        audit.event(
            c.conn,
            action,
            result,
            at=c.now,
            actor_kind=account.kind.value if account is not None else "client",
            actor=account.id if account is not None else (account_id or (client.client_id if client else "")),
            target_type=target_type,
            target_id=target_id,
            purpose=f"oauth:{detail}" if detail else "oauth",
            request_id=c.request_id,
            client_id=client.client_id if client else "",
            channel=client.client.channel.value if client else "",
        )

    def _generate_token(
        self,
        grant_type: str,
        client: OAuthClient,
        user: LoginUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        c = _call()
        s = self.rt.cfg.settings
        ttl = s.access_token_ttl_seconds
        channel = client.client.channel
        replayed = False
        if user is None:  # client credentials: the client acts for itself
            scopes = set(scope_to_list(scope) or client.client.scopes) & client.client.scopes
            subject = subjects.for_client(client.client_id, channel, scopes)
            refresh = None
            self.audit("oauth.token.issue", "ok", client=client, detail=grant_type)
            c.conn.commit()
        else:
            requested = set(scope_to_list(scope) or [])
            scopes = requested & client.client.scopes
            grant_id = user.grant_id
            if grant_id is None:
                grant_id = grants.create_grant(
                    c.conn,
                    client_id=client.client_id,
                    account_id=user.account.id,
                    scope=" ".join(sorted(scopes)),
                    auth_methods=user.auth_methods,
                    now=c.now,
                )
                if c.code is not None:
                    replayed = grants.link_code_grant(c.conn, self.rt.cfg.hmac_key, c.code, grant_id)
            subject = subjects.for_account(
                user.account,
                client_id=client.client_id,
                channel=channel,
                scopes=scopes,
                grant_id=grant_id,
                auth_methods=user.auth_methods,
            )
            refresh = (
                grants.issue_refresh_token(c.conn, self.rt.cfg.hmac_key, grant_id, s.refresh_token_ttl_seconds, c.now)
                if include_refresh_token
                else None
            )
            self.audit(
                "oauth.token.issue", "ok", client=client, account=user.account, target_id=grant_id, detail=grant_type
            )
            c.conn.commit()
            if replayed:  # the code was presented again while this redemption ran: nothing it yields may live
                self.revoke_grant(grant_id, "authorization code replayed")
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": issue_access_token(
                subject,
                self.rt.signing_keys(),
                issuer=self.rt.issuer,
                audience=s.audience,
                ttl=ttl,
                now=c.now.timestamp(),
            ),
            "expires_in": ttl,
            "scope": " ".join(sorted(subject.scopes)),
        }
        if refresh is not None:
            token["refresh_token"] = refresh
        if user is not None and OPENID in requested and OPENID in client.client.scopes:
            token["id_token"] = id_token(self.rt, user, client.client_id, c.now)
            token["scope"] = " ".join(sorted({*subject.scopes, OPENID}))
        return token
