"""Two-factor login: password (+ image captcha for unit operators), then an SMS code or TOTP.

During a lockout the reply is exactly that of a wrong password and the right password is refused too.
The global lock sends the owner an SMS; the owner unlocks with an SMS code (``start_unlock``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pyotp
import redis

from hub.access.subject import SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts, captcha_store, codes, core_lookup, documents, lockout
from hub.identity.config import IdentityConfig
from hub.identity.crypto import unseal
from hub.identity.errors import (
    IdentityError,
    InvalidCode,
    InvalidCredentials,
    NoPhoneOnRecord,
    NotFound,
    TemporaryPasswordExpired,
)
from hub.identity.passwords import DUMMY_HASH, verify_password
from hub.messaging import outbox

log = logging.getLogger(__name__)

LOGIN = "login"
UNLOCK = "unlock"
LOCK_NOTICE = "您的养老保险服务账号因多次登录失败已被锁定。如非本人操作，请使用“账号解锁”通过短信验证码解锁并修改密码。"


@dataclass(frozen=True)
class Credentials:
    """What the first login step carries. ``login`` is the document number (persons) or login name."""

    kind: SubjectKind
    login: str
    password: str
    document_type: str = documents.RESIDENT_ID
    unit_code: str | None = None  # unit operators: 统一社会信用代码 or 单位编号
    captcha_id: str = ""  # unit operators: the image captcha shown with the form …
    captcha_answer: str = ""  # … and what the user read from it


@dataclass(frozen=True)
class LoginChallenge:
    ticket: str
    method: str  # 'sms' or 'totp'
    phone_masked: str | None


@dataclass(frozen=True)
class LoggedIn:
    account: accounts.Account
    auth_methods: tuple[str, ...]
    password_change_due: bool
    password_must_change: bool = False  # an administrator issued the password: only the change page is open


def resolve(
    conn: psycopg.Connection[Any], core: psycopg.Connection[Any], cfg: IdentityConfig, creds: Credentials
) -> accounts.Account | None:
    """The account the credentials name, or None (never says why)."""
    if creds.kind is SubjectKind.PERSON:
        try:
            number = documents.normalize(creds.document_type, creds.login)
        except IdentityError:
            return None
        return accounts.find(conn, SubjectKind.PERSON, accounts.person_login(cfg.hmac_key, creds.document_type, number))
    if creds.kind is SubjectKind.UNIT_OPERATOR:
        unit = core_lookup.find_unit(core, creds.unit_code or "")
        if unit is None:
            return None
        return accounts.find(conn, SubjectKind.UNIT_OPERATOR, creds.login.strip(), unit_id=unit.unit_id)
    if creds.kind is SubjectKind.STAFF:
        return accounts.find(conn, SubjectKind.STAFF, creds.login.strip())
    return None


def _event(
    conn: psycopg.Connection[Any], action: str, result: str, account: accounts.Account, source: str, now: datetime
) -> None:
    audit.event(
        conn, action, result, at=now, actor_kind=account.kind.value, actor=account.id, target_id=account.id, ip=source
    )


def fail_password_check(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    account: accounts.Account,
    source: str,
    now: datetime,
    result: str = "failed",
    action: str = "auth.login",
) -> InvalidCredentials:
    """Record one failed password check (a login, or a password change's current password) toward the
    lockout, with the lock's audit record and SMS notice when this failure locks the account. Commits."""
    _event(conn, action, result, account, source, now)
    locked_now = lockout.record_failure(conn, cfg.lockout, account.id, source, now)
    if locked_now:
        _event(conn, "auth.lockout", "locked", account, source, now)
    if locked_now and account.phone:
        outbox.enqueue(
            conn,
            to=account.phone,
            template="staff_notice",
            personalisation={"content": LOCK_NOTICE},
            priority=outbox.Priority.CODE,
            purpose="account_locked",
        )
        log.warning("account %s locked everywhere after repeated failures", account.id)
    conn.commit()
    return InvalidCredentials()


def check_password(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    creds: Credentials,
    *,
    source: str,
    now: datetime,
) -> accounts.Account:
    """The first factor. Raises InvalidCredentials for an unknown login, a wrong password, a disabled or
    locked account alike (the same reply, about the same time); TemporaryPasswordExpired for the right
    administrator-issued password after its validity. Commits the failure counts."""
    account = resolve(conn, core, cfg, creds)
    if account is None:
        verify_password(DUMMY_HASH, creds.password)
        audit.event(conn, "auth.login", "failed", at=now, actor_kind="anonymous", actor="", ip=source)
        conn.commit()
        raise InvalidCredentials()
    locked = lockout.is_locked(conn, cfg.lockout, account.id, source, now)
    ok = verify_password(account.password_hash, creds.password)
    if locked or not ok or not account.active:
        raise fail_password_check(
            conn, cfg, account, source, now, "locked" if locked else "failed" if account.active else "disabled"
        )
    if account.temporary_password_expired(now):
        # The right password, past its validity: not a failure toward the lockout, but no way in either.
        _event(conn, "auth.login", "temporary_expired", account, source, now)
        conn.commit()
        raise TemporaryPasswordExpired()
    return account


def start_login(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    creds: Credentials,
    *,
    source: str,
    ip: str,
    now: datetime,
) -> LoginChallenge:
    """Check the captcha (unit operators), the password, then ask for the second factor: TOTP for enrolled
    staff, else an SMS code. A wrong captcha is refused before the password is looked at (no lockout count)."""
    if creds.kind is SubjectKind.UNIT_OPERATOR:
        captcha_store.check(
            r, cfg.settings.redis_prefix, creds.captcha_id, creds.captcha_answer, fixed=cfg.settings.test_fixed_captcha
        )
    account = check_password(conn, core, cfg, creds, source=source, now=now)
    binding = f"account:{account.id}"
    if account.kind is SubjectKind.STAFF and account.totp_secret is not None:
        ticket = codes.open_challenge(conn, cfg.codes, purpose=LOGIN, binding=binding, now=now)
        conn.commit()
        return LoginChallenge(ticket, "totp", None)
    phone = account.phone
    if account.person_id is not None:
        # A person's codes go to the phone the core holds now (the core is the authority on it).
        person = core_lookup.get_person(core, account.person_id)
        phone = person.phone if person is not None and core_lookup.is_mobile(person.phone) else None
        if phone is None:
            raise NoPhoneOnRecord()
        if phone != account.phone:
            accounts.set_phone(conn, account.id, phone)
    if not phone:
        raise InvalidCredentials("账号未绑定手机号码，请联系管理员")
    sent = codes.send_code(
        conn, r, cfg.codes, purpose=LOGIN, binding=binding, phone=phone, ip=ip, now=now, template="login_code"
    )
    conn.commit()
    return LoginChallenge(sent.ticket, "sms", sent.phone_masked)


def totp_of(cfg: IdentityConfig, account: accounts.Account) -> pyotp.TOTP | None:
    if account.totp_secret is None:
        return None
    return pyotp.TOTP(unseal(cfg.kek, account.totp_secret, account.id.encode()).decode())


def complete_login(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, *, ticket: str, code: str, source: str, now: datetime
) -> LoggedIn:
    """Check the second factor; a success clears the failure counts. Commits."""
    pending = codes.peek(conn, ticket=ticket, purpose=LOGIN, now=now)
    if pending is None:
        raise InvalidCode()
    account = accounts.get(conn, pending.binding.split(":", 1)[1])
    if account is None or not account.active:
        raise InvalidCode()
    totp = totp_of(cfg, account)

    def verify_totp(value: str) -> bool:
        return totp is not None and totp.verify(value, for_time=now, valid_window=1)

    try:
        challenge = codes.check_code(
            conn, cfg.codes, ticket=ticket, purpose=LOGIN, code=code, now=now, verifier=verify_totp
        )
    except InvalidCode:
        _event(conn, "auth.login", "code_failed", account, source, now)
        conn.commit()
        raise
    if account.temporary_password_expired(now):  # it ran out between the two steps
        _event(conn, "auth.login", "temporary_expired", account, source, now)
        conn.commit()
        raise TemporaryPasswordExpired()
    lockout.record_success(conn, account.id, source)
    _event(conn, "auth.login", "ok", account, source, now)
    conn.commit()
    second = "otp" if challenge.method == "totp" else "sms"
    methods = ("pwd", "captcha", second) if account.kind is SubjectKind.UNIT_OPERATOR else ("pwd", second)
    return LoggedIn(
        account, methods, cfg.passwords.change_due(account.password_changed_at, now), account.password_must_change
    )


def start_unlock(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    creds: Credentials,
    *,
    ip: str,
    now: datetime,
) -> codes.SentCode | None:
    """Send an unlock code to the owner of a globally locked account; None otherwise (the page says the
    same either way). No password is needed: the owner may not remember it."""
    account = resolve(conn, core, cfg, creds)
    if account is None or not account.phone or not lockout.is_globally_locked(conn, cfg.lockout, account.id):
        return None
    sent = codes.send_code(
        conn, r, cfg.codes, purpose=UNLOCK, binding=f"account:{account.id}", phone=account.phone, ip=ip, now=now
    )
    conn.commit()
    return sent


def complete_unlock(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, *, ticket: str, code: str, now: datetime
) -> None:
    try:
        challenge = codes.check_code(conn, cfg.codes, ticket=ticket, purpose=UNLOCK, code=code, now=now)
    except InvalidCode:
        conn.commit()
        raise
    account_id = challenge.binding.split(":", 1)[1]
    account = accounts.get(conn, account_id)
    if account is None:
        raise NotFound()
    lockout.unlock(conn, account_id)
    _event(conn, "auth.unlock", "ok", account, "", now)
    conn.commit()
    log.info("account %s unlocked by its owner", account_id)
