"""OAuth grants in the hub DB: authorization codes, grants, rotating refresh tokens, revoked access tokens.

A grant is one authorization; its refresh tokens form a family. Each refresh token is used once: using
it yields a new one in the same grant. Presenting a refresh token that was already used means it
leaked (or the client raced itself): the whole grant is revoked, so neither the thief nor the owner
can go on with it. Codes and refresh tokens are stored only as keyed hashes.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.identity.crypto import keyed_hash

log = logging.getLogger(__name__)


def _hash(key: str, kind: str, value: str) -> str:
    return keyed_hash(key, kind, value)


@dataclass(frozen=True)
class AuthorizationCode:
    client_id: str
    account_id: str
    redirect_uri: str | None
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_methods: tuple[str, ...]
    expires_at: datetime


def save_code(conn: psycopg.Connection[Any], key: str, code: str, c: AuthorizationCode) -> None:
    conn.execute(
        "insert into hub.oauth_code (code_hash, client_id, account_id, redirect_uri, scope, code_challenge, "
        "code_challenge_method, nonce, auth_methods, expires_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            _hash(key, "code", code),
            c.client_id,
            c.account_id,
            c.redirect_uri,
            c.scope,
            c.code_challenge,
            c.code_challenge_method,
            c.nonce,
            list(c.auth_methods),
            c.expires_at,
        ),
    )


def find_code(
    conn: psycopg.Connection[Any], key: str, code: str, client_id: str, now: datetime
) -> AuthorizationCode | None:
    row = conn.execute(
        "select client_id, account_id, redirect_uri, scope, code_challenge, code_challenge_method, nonce, "
        "auth_methods, expires_at from hub.oauth_code where code_hash = %s and client_id = %s "
        "and used_at is null and expires_at > %s",
        (_hash(key, "code", code), client_id, now),
    ).fetchone()
    if row is None:
        return None
    return AuthorizationCode(row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(row[7]), row[8])


def use_code(conn: psycopg.Connection[Any], key: str, code: str, now: datetime) -> bool:
    """Mark the code used; False if it was used already (two redemptions race: only one wins)."""
    cur = conn.execute(
        "update hub.oauth_code set used_at = %s where code_hash = %s and used_at is null",
        (now, _hash(key, "code", code)),
    )
    return cur.rowcount == 1


@dataclass(frozen=True)
class Grant:
    id: str
    client_id: str
    account_id: str | None
    scope: str
    auth_methods: tuple[str, ...]
    revoked: bool


def create_grant(
    conn: psycopg.Connection[Any],
    *,
    client_id: str,
    account_id: str | None,
    scope: str,
    auth_methods: tuple[str, ...],
    now: datetime,
) -> str:
    grant_id = "gr_" + secrets.token_hex(12)
    conn.execute(
        "insert into hub.oauth_grant (id, client_id, account_id, scope, auth_methods, created_at) "
        "values (%s, %s, %s, %s, %s, %s)",
        (grant_id, client_id, account_id, scope, list(auth_methods), now),
    )
    return grant_id


def get_grant(conn: psycopg.Connection[Any], grant_id: str) -> Grant | None:
    row = conn.execute(
        "select id, client_id, account_id, scope, auth_methods, revoked_at is not null from hub.oauth_grant "
        "where id = %s",
        (grant_id,),
    ).fetchone()
    return Grant(row[0], row[1], row[2], row[3], tuple(row[4]), row[5]) if row else None


def revoke_grant(conn: psycopg.Connection[Any], grant_id: str, reason: str, now: datetime) -> None:
    conn.execute(
        "update hub.oauth_grant set revoked_at = coalesce(revoked_at, %s), "
        "revoked_reason = coalesce(revoked_reason, %s) where id = %s",
        (now, reason, grant_id),
    )


def issue_refresh_token(conn: psycopg.Connection[Any], key: str, grant_id: str, ttl: int, now: datetime) -> str:
    token = "rt_" + secrets.token_urlsafe(32)
    conn.execute(
        "insert into hub.oauth_refresh_token (token_hash, grant_id, created_at, expires_at) values (%s, %s, %s, %s)",
        (_hash(key, "refresh", token), grant_id, now, now + timedelta(seconds=ttl)),
    )
    return token


@dataclass(frozen=True)
class RefreshToken:
    token_hash: str
    grant: Grant
    expires_at: datetime
    used: bool


def find_refresh_token(conn: psycopg.Connection[Any], key: str, token: str) -> RefreshToken | None:
    row = conn.execute(
        "select t.token_hash, t.grant_id, t.expires_at, t.used_at is not null from hub.oauth_refresh_token t "
        "where t.token_hash = %s",
        (_hash(key, "refresh", token),),
    ).fetchone()
    if row is None:
        return None
    grant = get_grant(conn, row[1])
    assert grant is not None
    return RefreshToken(row[0], grant, row[2], row[3])


def use_refresh_token(conn: psycopg.Connection[Any], token_hash: str, now: datetime) -> bool:
    cur = conn.execute(
        "update hub.oauth_refresh_token set used_at = %s where token_hash = %s and used_at is null", (now, token_hash)
    )
    return cur.rowcount == 1


def revoke_jti(conn: psycopg.Connection[Any], jti: str, expires_at: datetime) -> None:
    conn.execute(
        "insert into hub.oauth_revoked_jti (jti, expires_at) values (%s, %s) on conflict do nothing", (jti, expires_at)
    )


def jti_revoked(conn: psycopg.Connection[Any], jti: str) -> bool:
    return conn.execute("select 1 from hub.oauth_revoked_jti where jti = %s", (jti,)).fetchone() is not None


def mark_code_replayed(
    conn: psycopg.Connection[Any], key: str, code: str, now: datetime
) -> tuple[str, str | None] | None:
    """A code presented again after it was redeemed: flag it; (account id, grant id or None) or None.

    None when no redeemed code has this value (an unknown or merely expired code is not a replay).
    The grant id is None when the first redemption has not created its grant yet (a race): then
    ``link_code_grant`` sees the flag and the new grant is revoked at once. Never commits.
    """
    row = conn.execute(
        "update hub.oauth_code set replayed_at = coalesce(replayed_at, %s) where code_hash = %s "
        "and used_at is not null returning account_id, grant_id",
        (now, _hash(key, "code", code)),
    ).fetchone()
    return (str(row[0]), row[1]) if row else None


def link_code_grant(conn: psycopg.Connection[Any], key: str, code: str, grant_id: str) -> bool:
    """Record the grant a code was redeemed into; True when the code has meanwhile been replayed. Never commits."""
    row = conn.execute(
        "update hub.oauth_code set grant_id = %s where code_hash = %s returning replayed_at is not null",
        (grant_id, _hash(key, "code", code)),
    ).fetchone()
    return bool(row and row[0])
