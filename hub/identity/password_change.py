"""Changing the password while logged in, and the forced change of administrator-issued passwords.

``change_password`` checks the current password (a wrong one counts toward the login lockout exactly
like a failed login, and during a lockout the reply is that of a wrong password), then the policy and
the history (``PasswordPolicy.check`` over ``accounts.password_history``), stores the new hash, revokes
the account's OAuth grants except the caller's own, audits the change (never the password) and queues
an SMS notice to the account's phone, in one transaction. After the commit ``end_other_sessions``
ends the account's other portal sessions and tells the resource side about the revoked grants; the
caller's session stays open.

A password an administrator issues (a new staff account, a unit operator created by the unit's
administrator or a unit's first administrator) is marked by ``issue_temporary``: the next login opens
a restricted session that reaches only the change page, no OAuth token is issued for the account, and
from ``temporary_password_days`` after issue the password is refused (``TemporaryPasswordExpired``).
A successful change (or an SMS reset by the owner) clears the mark.

``reissue`` is an administrator's reset of someone else's password (the owner forgot it and has no
usable phone, or the temporary one ran out): the new password is temporary as above, every OAuth grant
of the account is revoked, its lockout counters are cleared and an SMS notice (never the password) is
queued to its phone; ``end_other_sessions`` with no session to keep then ends every portal session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import redis
from redis.exceptions import RedisError

from hub.audit import sync_writer as audit
from hub.identity import accounts, lockout, login, sessions
from hub.identity.config import IdentityConfig
from hub.identity.errors import SamePassword, TemporaryPasswordExpired, WrongCurrentPassword
from hub.identity.passwords import DUMMY_HASH, hash_password, verify_password
from hub.messaging import outbox

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTION = "auth.password_change"
REVOKE_REASON = "password changed"
RESET_REVOKE_REASON = "password reset by administrator"


def notice_text(now: datetime) -> str:
    """The SMS after a change: when, and what to do if it was not the owner."""
    at = now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return f"您的密码已修改（{at}）。如非本人操作，请立即通过“找回密码”重置密码，或拨打12333咨询。"


def reset_notice_text(now: datetime, by: str) -> str:
    """The SMS after an administrator's reset (``by``: 系统管理员, 本单位管理员); never the password."""
    at = now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return (
        f"您的密码已由{by}重置（{at}），原有登录已全部退出。请使用其告知的临时密码登录并立即修改密码；"
        f"如非本人申请，请立即联系{by}或拨打12333咨询。"
    )


@dataclass(frozen=True)
class Changed:
    account_id: str
    was_temporary: bool
    revoked_grants: tuple[str, ...]  # OAuth grants revoked by the change (the caller's own is kept)


def issue_temporary(conn: psycopg.Connection[Any], cfg: IdentityConfig, account_id: str, now: datetime) -> datetime:
    """Mark the account's password as issued by an administrator: it must be changed at the next login
    and is refused from the returned instant. Never commits."""
    expires_at = now + timedelta(days=cfg.settings.temporary_password_days)
    accounts.require_password_change(conn, account_id, expires_at)
    return expires_at


def reissue(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    account: accounts.Account,
    password: str,
    now: datetime,
    *,
    notice: str,
) -> tuple[Changed, datetime]:
    """Replace ``account``'s password with ``password``, issued by an administrator: it must be changed at
    the next login and is refused from the returned instant. Every OAuth grant of the account is revoked,
    its lockout counters (per source and global) are cleared and ``notice`` is queued by SMS to its phone
    on record, if any. The caller audits (never the password). Never commits; after the commit,
    ``end_other_sessions(..., keep_session=None)`` ends every session of the account."""
    cfg.passwords.check(password)
    accounts.set_password(conn, account.id, hash_password(password), now)
    expires_at = issue_temporary(conn, cfg, account.id, now)
    rows = conn.execute(
        "update hub.oauth_grant set revoked_at = %s, revoked_reason = %s "
        "where account_id = %s and revoked_at is null returning id",
        (now, RESET_REVOKE_REASON, account.id),
    ).fetchall()
    lockout.unlock(conn, account.id)
    if account.phone:
        outbox.enqueue(
            conn,
            to=account.phone,
            template="staff_notice",
            personalisation={"content": notice},
            priority=outbox.Priority.NOTICE,
            purpose="password_reset",
        )
    revoked = tuple(sorted(str(r[0]) for r in rows))
    return Changed(account.id, account.password_must_change, revoked), expires_at


def change_password(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    account_id: str,
    current: str,
    new: str,
    now: datetime,
    source: str,
    keep_grant: str | None = None,
    client_id: str = "",
    channel: str = "",
) -> Changed:
    """Change the password of ``account_id`` (the caller's own account). Commits.

    ``source`` is the lockout source (``ip:…`` or ``device:…``), ``keep_grant`` the OAuth grant the
    caller is using (an app token's), which stays valid. Raises WrongCurrentPassword (also for a locked,
    disabled or missing account: one reply), TemporaryPasswordExpired (the right administrator-issued
    password past its validity), SamePassword, WeakPassword (every rule broken, in Chinese).
    """
    account = accounts.get(conn, account_id)
    if account is None:
        verify_password(DUMMY_HASH, current)
        raise WrongCurrentPassword()
    locked = lockout.is_locked(conn, cfg.lockout, account.id, source, now)
    ok = verify_password(account.password_hash, current)
    if locked or not ok or not account.active:
        result = "locked" if locked else "failed" if account.active else "disabled"
        login.fail_password_check(conn, cfg, account, source, now, result, action=ACTION)
        raise WrongCurrentPassword()
    if account.temporary_password_expired(now):  # a restricted session outlived its temporary password
        audit.event(
            conn, ACTION, "temporary_expired", at=now, actor_kind=account.kind.value, actor=account.id,
            target_id=account.id, ip=source, client_id=client_id, channel=channel,
        )  # fmt: skip
        conn.commit()
        raise TemporaryPasswordExpired()
    if new == current:
        raise SamePassword()
    cfg.passwords.check(new, accounts.password_history(conn, account.id, cfg.passwords.history))

    accounts.set_password(conn, account.id, hash_password(new), now)
    rows = conn.execute(
        "update hub.oauth_grant set revoked_at = %s, revoked_reason = %s "
        "where account_id = %s and revoked_at is null and id is distinct from %s returning id",
        (now, REVOKE_REASON, account.id, keep_grant),
    ).fetchall()
    revoked = tuple(sorted(str(r[0]) for r in rows))
    lockout.record_success(conn, account.id, source)
    audit.event(
        conn, ACTION, "ok", at=now, actor_kind=account.kind.value, actor=account.id, target_id=account.id,
        purpose="forced" if account.password_must_change else "self", ip=source, client_id=client_id,
        channel=channel,
    )  # fmt: skip
    if account.phone:
        outbox.enqueue(
            conn,
            to=account.phone,
            template="staff_notice",
            personalisation={"content": notice_text(now)},
            priority=outbox.Priority.NOTICE,
            purpose="password_changed",
        )
    conn.commit()
    log.info("account %s changed its password (%d grants revoked)", account.id, len(revoked))
    return Changed(account.id, account.password_must_change, revoked)


def end_sessions_after_reset(
    r: redis.Redis, policy: sessions.SessionPolicy, changed: Changed, *, now: datetime, access_token_ttl_seconds: int
) -> None:
    """After an administrator re-issued the password: every session of the account ends, and its grants'
    access tokens are refused at once (the revocation markers outlive the longest token by a minute)."""
    end_other_sessions(r, policy, changed, keep_session=None, now=now, marker_ttl_seconds=access_token_ttl_seconds + 60)


def end_other_sessions(
    r: redis.Redis,
    policy: sessions.SessionPolicy,
    changed: Changed,
    *,
    keep_session: str | None,
    now: datetime,
    marker_ttl_seconds: int,
) -> None:
    """After the change committed: every portal session of the account but ``keep_session`` ends, and the
    resource side refuses the revoked grants' access tokens at once (their rows are the durable record).

    Redis unavailable: logged; the grants stay revoked in the database (refresh and introspection refuse
    them) and sessions cannot be used without Redis anyway.
    """
    try:
        sessions.revoke_account(r, policy, changed.account_id)
        if keep_session:
            sessions.keep_after_change(r, policy, keep_session, now)
        for grant_id in changed.revoked_grants:
            r.set(f"{policy.prefix}revoked:grant:{grant_id}", "1", ex=marker_ttl_seconds)
    except RedisError:
        log.warning("sessions of account %s not ended after a password change (Redis unavailable)", changed.account_id)
