"""The objects authlib's grant code asks questions of: client, authorization code, refresh token, access token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.util import scope_to_list  # type: ignore[import-untyped]

from hub.identity import clients, grants
from hub.identity.accounts import Account


class OAuthClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: clients.Client) -> None:
        self.client = client

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.client.redirect_uris[0] if self.client.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(sorted(self.client.scopes))
        return " ".join(s for s in scope_to_list(scope) if s in self.client.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris  # exact match (OAuth 2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and clients.AUTHORIZATION_CODE in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.client.grant_types


@dataclass(frozen=True)
class LoginUser:
    """The resource owner behind a code or a refresh token."""

    account: Account
    auth_methods: tuple[str, ...]
    grant_id: str | None = None
    nonce: str | None = None  # OIDC: from the authorization request, echoed in the ID token


class CodeRecord:
    def __init__(self, code: grants.AuthorizationCode) -> None:
        self.code = code

    def get_redirect_uri(self) -> str | None:
        return self.code.redirect_uri

    def get_scope(self) -> str:
        return self.code.scope


class RefreshRecord:
    def __init__(self, token: grants.RefreshToken, now: datetime) -> None:
        self.token = token
        self.now = now

    @property
    def client_id(self) -> str:
        return self.token.grant.client_id

    def check_client(self, client: OAuthClient) -> bool:
        return self.token.grant.client_id == client.client_id

    def get_scope(self) -> str:
        return self.token.grant.scope

    def is_expired(self) -> bool:
        return self.token.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.token.used or self.token.grant.revoked


class AccessRecord:
    """A verified access token (JWT) as revocation and introspection see it."""

    def __init__(self, claims: dict[str, object], revoked: bool, now: float) -> None:
        self.claims = claims
        self.revoked = revoked
        self.now = now

    @property
    def client_id(self) -> str:
        return str(self.claims.get("cid"))

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        exp = self.claims.get("exp")
        return not isinstance(exp, int) or exp <= self.now

    def is_revoked(self) -> bool:
        return self.revoked
