"""OAuth clients (系统客户端): the app, the portal, kiosks, the hotline system and partners.

Each client belongs to a channel and holds at most its scopes. Public clients (the app) have no
secret and must use PKCE; the others authenticate with a random secret stored as a SHA-256 hash.

The security administrator manages kiosk, hotline, partner and app clients (``register_client``,
``rotate_secret``, ``set_client_status``). A disabled client (``status = 'disabled'``) keeps its grant
types, but ``get`` does not find it, so the token, revocation and introspection endpoints treat it as
unknown, and its grants are revoked; re-enabling makes it work again with the same grant types (a client
the previous release disabled, its grant types emptied, gets its channel's grant types back).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.access import channels as channel_registry
from hub.access.subject import Channel, StaffRole, Subject
from hub.audit import sync_writer as audit
from hub.identity.errors import Conflict, IdentityError, NotFound
from hub.identity.refusals import CLIENT_DISABLED, INSTALLER_ONLY, PUBLIC_CLIENT, ROLE_REQUIRED, Refused

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
        "from hub.oauth_client where client_id = %s and status = 'active' and cardinality(grant_types) > 0",
        (client_id,),
    ).fetchone()
    if row is None:
        return None
    return Client(row[0], row[1], Channel(row[2]), frozenset(row[3]), tuple(row[4]), frozenset(row[5]), row[6])


def _exists(conn: psycopg.Connection[Any], client_id: str) -> bool:
    """Whether the id is taken, by an active or a disabled client."""
    return status_of(conn, client_id) is not None


def status_of(conn: psycopg.Connection[Any], client_id: str) -> str | None:
    """'active' or 'disabled' for a registered client (whatever its grant types), None for an unknown id."""
    row = conn.execute("select status from hub.oauth_client where client_id = %s", (client_id,)).fetchone()
    return str(row[0]) if row else None


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
    if _exists(conn, client_id):
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


# Management by the security administrator ----------------------------------------------------------

# The channels whose clients the security administrator registers, and the grants each channel uses.
CHANNEL_GRANTS: dict[Channel, frozenset[str]] = {
    Channel.KIOSK: frozenset({CLIENT_CREDENTIALS}),
    Channel.HOTLINE: frozenset({CLIENT_CREDENTIALS}),
    Channel.PARTNER: frozenset({CLIENT_CREDENTIALS}),
    Channel.APP: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
}
# OpenID Connect scopes an app client may hold besides its channel's data scopes.
APP_EXTRA_SCOPES = frozenset({"openid", "profile", "phone"})
_CLIENT_ID = re.compile(r"^[a-z][a-z0-9-]{2,47}$")


class InvalidClientField(IdentityError):
    """A field of the registration form; ``field`` names it for the page."""

    type = "invalid-field"
    title = "填写的内容有误"
    status = 400

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


@dataclass(frozen=True)
class ClientListing:
    client_id: str
    name: str
    channel: Channel
    grant_types: frozenset[str]
    scopes: frozenset[str]
    redirect_uris: tuple[str, ...]
    public: bool
    active: bool
    created_at: datetime


def _require_security_admin(actor: Subject) -> None:
    if not actor.has_role(StaffRole.SECURITY_ADMIN):
        raise Refused(ROLE_REQUIRED)


def allowed_scopes(channel: Channel) -> frozenset[str]:
    """What a client of ``channel`` may hold: the channel registry's scopes (and OIDC for the app)."""
    scopes = frozenset(s.value for s in channel_registry.policy(channel).scopes)
    return scopes | APP_EXTRA_SCOPES if channel is Channel.APP else scopes


def _client_event(
    conn: psycopg.Connection[Any], action: str, actor: Subject, client_id: str, now: datetime, purpose: str
) -> None:
    audit.event(
        conn, action, "ok", at=now, actor_kind=actor.kind.value, actor=actor.account_id, target_type="oauth_client",
        target_id=client_id, purpose=purpose, client_id=actor.client_id, channel=actor.channel.value,
    )  # fmt: skip


def list_clients(conn: psycopg.Connection[Any], actor: Subject) -> list[ClientListing]:
    """Every client, active and disabled, by channel and id. Security administrator only."""
    _require_security_admin(actor)
    rows = conn.execute(
        "select client_id, name, channel, grant_types, scopes, redirect_uris, secret_hash is null, "
        "status = 'active', created_at from hub.oauth_client order by channel, client_id"
    ).fetchall()
    return [
        ClientListing(r[0], r[1], Channel(r[2]), frozenset(r[3]), frozenset(r[4]), tuple(r[5]), r[6], r[7], r[8])
        for r in rows
    ]


def register_client(
    conn: psycopg.Connection[Any],
    actor: Subject,
    *,
    client_id: str,
    name: str,
    channel: Channel,
    scopes: Iterable[str],
    redirect_uris: Iterable[str] = (),
    now: datetime,
) -> str | None:
    """A kiosk, hotline, partner or app client with scopes its channel allows; returns the secret to show
    once (None for the app, a public client). Security administrator only. Never commits.

    Raises InvalidClientField, Conflict (the id is taken), Forbidden.
    """
    _require_security_admin(actor)
    client_id = client_id.strip()
    if not _CLIENT_ID.match(client_id):
        raise InvalidClientField("client_id", "客户端编号须以小写字母开头，由3至48位小写字母、数字或连字符组成")
    label = name.strip()
    if not label or len(label) > 50:
        raise InvalidClientField("name", "请填写客户端名称（不超过50个字）")
    if channel not in CHANNEL_GRANTS:
        raise InvalidClientField("channel", "只能登记自助终端、12333热线、合作机构或掌上12333的客户端")
    wanted = frozenset(scopes)
    if not wanted:
        raise InvalidClientField("scopes", "请至少选择一项可用范围")
    if not wanted <= allowed_scopes(channel):
        raise InvalidClientField("scopes", "所选范围超出该渠道允许的范围")
    uris = tuple(u.strip() for u in redirect_uris if u.strip())
    public = channel is Channel.APP
    if public and not uris:
        raise InvalidClientField("redirect_uris", "掌上12333客户端须填写回调地址")
    if not public and uris:
        raise InvalidClientField("redirect_uris", "该渠道的客户端不使用回调地址")
    if any(len(u) > 300 or ":" not in u or any(c.isspace() for c in u) for u in uris):
        raise InvalidClientField("redirect_uris", "回调地址格式不正确")
    secret = register(
        conn, client_id=client_id, name=label, channel=channel, grant_types=CHANNEL_GRANTS[channel], scopes=wanted,
        redirect_uris=uris, public=public, now=now,
    )  # fmt: skip
    _client_event(conn, "client.register", actor, client_id, now, f"{channel.value}:{' '.join(sorted(wanted))}")
    return secret


def _managed(conn: psycopg.Connection[Any], client_id: str) -> tuple[Channel, bool, bool, frozenset[str]]:
    """(channel, public, active, grant types) of an existing client; NotFound otherwise."""
    row = conn.execute(
        "select channel, secret_hash is null, status = 'active', grant_types from hub.oauth_client "
        "where client_id = %s for update",
        (client_id,),
    ).fetchone()
    if row is None:
        raise NotFound("客户端不存在")
    return Channel(row[0]), bool(row[1]), bool(row[2]), frozenset(row[3])


def rotate_secret(conn: psycopg.Connection[Any], actor: Subject, client_id: str, *, now: datetime) -> str:
    """A new random secret for a confidential, active client (the old one stops at once); returns it to
    show once. Security administrator only. Never commits."""
    _require_security_admin(actor)
    _, public, active, _ = _managed(conn, client_id)
    if public:
        raise Refused(PUBLIC_CLIENT, "公开客户端（掌上12333）没有密钥")
    if not active:
        raise Refused(CLIENT_DISABLED, "客户端已停用，请先启用")
    secret = secrets.token_urlsafe(32)
    conn.execute("update hub.oauth_client set secret_hash = %s where client_id = %s", (secret_hash(secret), client_id))
    _client_event(conn, "client.secret_rotate", actor, client_id, now, "admin")
    return secret


def set_client_status(
    conn: psycopg.Connection[Any], actor: Subject, client_id: str, *, active: bool, now: datetime
) -> list[str]:
    """Disable a client (its grant types kept, every grant revoked) or enable it again. Returns the ids of
    the grants revoked now, for the resource side's revocation markers. Security administrator only.
    Never commits.

    A client the previous release disabled has no grant types left: enabling gives it its channel's
    (``CHANNEL_GRANTS``); a portal or hall client in that state is the installer's to register again.
    """
    _require_security_admin(actor)
    channel, _, _, kept = _managed(conn, client_id)
    revoked: list[str] = []
    if active:
        grants = kept or CHANNEL_GRANTS.get(channel)
        if not grants:
            raise Refused(INSTALLER_ONLY, "该渠道的客户端须由安装程序登记和启用")
        conn.execute(
            "update hub.oauth_client set status = 'active', grant_types = %s where client_id = %s",
            (sorted(grants), client_id),
        )
    else:
        conn.execute("update hub.oauth_client set status = 'disabled' where client_id = %s", (client_id,))
        rows = conn.execute(
            "update hub.oauth_grant set revoked_at = %s, revoked_reason = 'client disabled' "
            "where client_id = %s and revoked_at is null returning id",
            (now, client_id),
        ).fetchall()
        revoked = [str(r[0]) for r in rows]
    _client_event(conn, "client.enable" if active else "client.disable", actor, client_id, now, channel.value)
    return revoked
