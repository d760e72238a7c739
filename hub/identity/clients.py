"""OAuth clients (系统客户端): the app, the portal, kiosks, the hotline system and partners.

Each client belongs to a channel and holds at most its scopes. Public clients (the app) have no
secret and must use PKCE; the others authenticate with a random secret stored as a SHA-256 hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.access.subject import Channel
from hub.identity.errors import Conflict

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"  # noqa: S105
GRANT_TYPES = frozenset({AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN})


def secret_hash(secret: str) -> str:
    """Client secrets are 256-bit random strings: a plain SHA-256 is enough (no slow hash needed), and the
    token endpoint stays fast for kiosks and the hotline."""
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    channel: Channel
    grant_types: frozenset[str]
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    secret_hash: str | None = None

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    def check_secret(self, secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(self.secret_hash, secret_hash(secret))


def get(conn: psycopg.Connection[Any], client_id: str) -> Client | None:
    row = conn.execute(
        "select client_id, name, channel, grant_types, redirect_uris, scopes, secret_hash "
        "from hub.oauth_client where client_id = %s",
        (client_id,),
    ).fetchone()
    if row is None:
        return None
    return Client(row[0], row[1], Channel(row[2]), frozenset(row[3]), tuple(row[4]), frozenset(row[5]), row[6])


def register(
    conn: psycopg.Connection[Any],
    *,
    client_id: str,
    name: str,
    channel: Channel,
    grant_types: Iterable[str],
    scopes: Iterable[str],
    now: datetime,
    redirect_uris: Iterable[str] = (),
    public: bool = False,
    secret: str | None = None,
) -> str | None:
    """Register a client; returns its secret (shown once) or None for a public client. Never commits.

    ``secret`` fixes the secret (the demo prints the same one on every run); by default it is random.

    No implicit and no password grant exist here: only the three grant types of OAuth 2.1.
    """
    grants = frozenset(grant_types)
    if not grants <= GRANT_TYPES:
        raise ValueError(f"unsupported grant types: {sorted(grants - GRANT_TYPES)}")
    if public and CLIENT_CREDENTIALS in grants:
        raise ValueError("a public client cannot use client credentials")
    if get(conn, client_id) is not None:
        raise Conflict("客户端已存在")
    if public:
        secret = None
    elif secret is None:
        secret = secrets.token_urlsafe(32)
    conn.execute(
        "insert into hub.oauth_client (client_id, secret_hash, name, channel, grant_types, redirect_uris, scopes, "
        "created_at) values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            client_id,
            secret_hash(secret) if secret else None,
            name,
            channel.value,
            sorted(grants),
            list(redirect_uris),
            sorted(scopes),
            now,
        ),
    )
    return secret
