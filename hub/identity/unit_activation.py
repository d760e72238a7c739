"""First login of a unit that exists in the core, and the unit administrator's management of operators.

Activation: a unit registered in the core but without any operator account gets its first operator, who
becomes the unit's administrator, after proving control of the unit through one of two codes:

- a code sent by SMS to the unit contact's phone on record in the core (``core.ab01``), never to a number
  the visitor types; it is an ordinary SMS code (``hub.identity.codes``: HMAC-stored, single use,
  expiring, a check budget, resend cooldown and daily caps per number and per IP);
- a code issued by agency staff at a counter (``issue_counter_code``, the ``hub unit issue-activation``
  command), stored as an HMAC, single use, expiring, with a check budget and a per-IP attempt limit.

The first step answers the same for an unknown unit, a unit that already has operators and a unit
without a mobile number on record (a ticket that never verifies), so the form is no oracle of units.

Operator management: only the unit's administrator, as recorded in the hub DB at the time of the call (a
session remembers the flag from its login, which a handover may have changed since), lists, adds,
disables and re-enables the unit's operators and hands the administrator flag to another operator.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
import redis
from redis.exceptions import RedisError

from hub.access.subject import Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts, admin, codes, core_lookup
from hub.identity.config import IdentityConfig
from hub.identity.crypto import keyed_hash
from hub.identity.errors import Forbidden, IdentityError, InvalidCode, NotFound, SmsUnavailable
from hub.ids import mask_phone

log = logging.getLogger(__name__)

PURPOSE = "unit_activation"
_LOGIN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{3,31}$")
_COUNTER_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed from paper
COUNTER_CODE_LENGTH = 12
WRONG_COUNTER_CODE = "激活码错误或已失效"


@dataclass(frozen=True)
class ActivationPolicy:
    """Limits of counter-issued activation codes (security settings, not policy numbers)."""

    counter_ttl_days: int = 7
    counter_max_checks: int = 5
    attempts_per_ip_hour: int = 20


class InvalidLogin(IdentityError):
    type = "invalid-login"
    title = "登录名须以字母开头，由4至32位字母、数字、下划线、点或连字符组成"
    status = 400


class InvalidPhone(IdentityError):
    type = "invalid-phone"
    title = "请填写正确的11位手机号码"
    status = 400


class InvalidName(IdentityError):
    type = "invalid-name"
    title = "请填写经办人姓名（不超过50个字）"
    status = 400


class AlreadyActivated(IdentityError):
    type = "unit-already-activated"
    title = "该单位已开通网上服务，请联系单位管理员为您创建经办人账号"
    status = 409


class NotUnitAdministrator(Forbidden):
    """The caller is not, now, an active administrator of a unit."""

    title = "此功能仅供单位管理员使用"


class TooManyAttempts(IdentityError):
    type = "too-many-attempts"
    title = "尝试次数过多，请一小时后再试"
    status = 429


@dataclass(frozen=True)
class Activated:
    account_id: str
    unit_id: int
    login: str


@dataclass(frozen=True)
class CounterCode:
    unit_id: int
    unit_name: str
    code: str
    expires_at: datetime


# Shared checks ------------------------------------------------------------------------------------


def check_login(login: str) -> str:
    value = login.strip()
    if not _LOGIN.match(value):
        raise InvalidLogin()
    return value


def check_phone(phone: str) -> str:
    value = "".join(phone.split())
    if not core_lookup.is_mobile(value):
        raise InvalidPhone()
    return value


def check_name(name: str) -> str:
    value = name.strip()
    if not value or len(value) > 50:
        raise InvalidName()
    return value


def has_operators(conn: psycopg.Connection[Any], unit_id: int) -> bool:
    row = conn.execute(
        "select exists (select 1 from hub.account where kind = 'unit_operator' and unit_id = %s)", (unit_id,)
    ).fetchone()
    return bool(row and row[0])


def _contact_phone(core: psycopg.Connection[Any], unit_id: int) -> str | None:
    row = core.execute("select contact_phone from core.ab01 where aab001 = %s", (unit_id,)).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def _find_unit(core: psycopg.Connection[Any], unit_code: str) -> core_lookup.CoreUnit | None:
    code = unit_code.strip().upper()
    if not code or len(code) > 18 or not code.isalnum():
        return None
    return core_lookup.find_unit(core, code)


# Activation by SMS ---------------------------------------------------------------------------------


def start_sms(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    *,
    unit_code: str,
    ip: str,
    now: datetime,
) -> codes.SentCode:
    """Send an activation code to the unit contact's phone on record in the core. Commits the code row.

    The reply (a ticket, no phone shown) is the same whether or not the unit exists, already has
    operators, or has a mobile number on record; the send counters count either way. Raises the
    code-sending errors (cooldown, daily caps, Redis unreachable).
    """
    unit = _find_unit(core, unit_code)
    phone = _contact_phone(core, unit.unit_id) if unit is not None else None
    eligible = unit is not None and not has_operators(conn, unit.unit_id) and core_lookup.is_mobile(phone)
    if not eligible or unit is None or phone is None:
        # Count the attempt like a real send, keyed by what was typed, then hand out a dead ticket.
        codes.throttle(r, cfg.codes, phone="unit:" + unit_code.strip().upper()[:18], ip=ip, now=now)
        log.info("unit activation code not sent (no eligible unit)")
        return codes.SentCode(secrets.token_urlsafe(24), "", now + timedelta(seconds=cfg.codes.ttl_seconds))
    sent = codes.send_code(
        conn, r, cfg.codes, purpose=PURPOSE, binding=f"unit:{unit.unit_id}", phone=phone, ip=ip, now=now
    )
    audit.event(
        conn, "unit.activation_code", "sent", at=now, actor_kind="anonymous", actor="", target_type="unit",
        target_id=str(unit.unit_id), ip=ip,
    )  # fmt: skip
    conn.commit()
    return codes.SentCode(sent.ticket, "", sent.expires_at)


def complete_sms(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    ticket: str,
    code: str,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    ip: str,
    now: datetime,
) -> Activated:
    """Check the SMS activation code and create the unit's first operator as its administrator. Commits.

    The account fields and the password policy are checked before the code is consumed, so a typing
    error does not burn the code. Raises InvalidCode, AlreadyActivated, the field errors, WeakPassword.
    """
    fields = _fields(cfg, login, display_name, phone, password)
    if codes.peek(conn, ticket=ticket, purpose=PURPOSE, now=now) is None:
        raise InvalidCode()
    try:
        challenge = codes.check_code(conn, cfg.codes, ticket=ticket, purpose=PURPOSE, code=code, now=now)
    except InvalidCode:
        conn.commit()  # the failed check counts
        raise
    unit_id = int(challenge.binding.split(":", 1)[1])
    return _activate(conn, cfg, unit_id, fields, "sms", ip, now)


# Activation by a counter code ----------------------------------------------------------------------


def _counter_hash(cfg: IdentityConfig, unit_id: int, code: str) -> str:
    return keyed_hash(cfg.hmac_key, f"unit-activation:{unit_id}", code)


def _normalize_counter(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def issue_counter_code(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    unit_code: str,
    issued_by: str,
    now: datetime,
    policy: ActivationPolicy = ActivationPolicy(),
) -> CounterCode:
    """Agency staff at a counter: a new activation code for a unit without operators. Never commits.

    Earlier unused counter codes of the unit are revoked. The code is returned once (to be handed over on
    paper) and stored only as an HMAC. Raises NotFound (no such unit in the core), AlreadyActivated.
    """
    unit = _find_unit(core, unit_code)
    if unit is None:
        raise NotFound("核心系统中没有该单位")
    if has_operators(conn, unit.unit_id):
        raise AlreadyActivated("该单位已有经办人账号，无需激活")
    code = "".join(secrets.choice(_COUNTER_ALPHABET) for _ in range(COUNTER_CODE_LENGTH))
    expires = now + timedelta(days=policy.counter_ttl_days)
    conn.execute(
        "update hub.unit_activation_code set revoked_at = %s where unit_id = %s and used_at is null "
        "and revoked_at is null",
        (now, unit.unit_id),
    )
    conn.execute(
        "insert into hub.unit_activation_code (unit_id, code_hmac, issued_by, created_at, expires_at) "
        "values (%s, %s, %s, %s, %s)",
        (unit.unit_id, _counter_hash(cfg, unit.unit_id, code), issued_by, now, expires),
    )
    audit.event(
        conn, "unit.activation_code", "issued", at=now, actor_kind="staff", actor=issued_by, target_type="unit",
        target_id=str(unit.unit_id), purpose="counter",
    )  # fmt: skip
    return CounterCode(unit.unit_id, unit.name, code, expires)


def _count_attempt(r: redis.Redis, cfg: IdentityConfig, policy: ActivationPolicy, ip: str, now: datetime) -> None:
    key = f"{cfg.codes.redis_prefix}unit-activation:ip:{ip}:{now.strftime('%Y%m%d%H')}"
    try:
        pipe = r.pipeline()
        pipe.incr(key)
        pipe.expire(key, 7200)
        count = int(pipe.execute()[0])
    except RedisError as exc:
        log.warning("unit activation refused: attempt counters unavailable (%s)", type(exc).__name__)
        raise SmsUnavailable("服务暂时不可用，请稍后再试") from None
    if count > policy.attempts_per_ip_hour:
        raise TooManyAttempts()


def complete_counter(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    *,
    unit_code: str,
    code: str,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    ip: str,
    now: datetime,
    policy: ActivationPolicy = ActivationPolicy(),
) -> Activated:
    """Check a counter-issued code for the unit and create its first operator as administrator. Commits.

    An unknown unit, a wrong, used, revoked or expired code all raise the same InvalidCode. Every check
    counts against the code's budget and the caller's per-IP hourly limit (TooManyAttempts).
    """
    fields = _fields(cfg, login, display_name, phone, password)
    _count_attempt(r, cfg, policy, ip, now)
    unit = _find_unit(core, unit_code)
    typed = _normalize_counter(code)
    if unit is None or not typed:
        raise InvalidCode(WRONG_COUNTER_CODE)
    rows = conn.execute(
        "select id, code_hmac from hub.unit_activation_code where unit_id = %s and used_at is null "
        "and revoked_at is null and expires_at > %s and checks < %s for update",
        (unit.unit_id, now, policy.counter_max_checks),
    ).fetchall()
    expected = _counter_hash(cfg, unit.unit_id, typed)
    match = next((int(i) for i, h in rows if secrets.compare_digest(str(h), expected)), None)
    if match is None:
        if rows:
            conn.execute(
                "update hub.unit_activation_code set checks = checks + 1 where id = any(%s)",
                ([int(i) for i, _ in rows],),
            )
        conn.commit()
        raise InvalidCode(WRONG_COUNTER_CODE)
    conn.execute("update hub.unit_activation_code set used_at = %s where id = %s", (now, match))
    return _activate(conn, cfg, unit.unit_id, fields, "counter", ip, now)


@dataclass(frozen=True)
class _Fields:
    login: str
    display_name: str
    phone: str
    password: str


def _fields(cfg: IdentityConfig, login: str, display_name: str, phone: str, password: str) -> _Fields:
    fields = _Fields(check_login(login), check_name(display_name), check_phone(phone), password)
    cfg.passwords.check(password)
    return fields


def _activate(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, unit_id: int, f: _Fields, how: str, ip: str, now: datetime
) -> Activated:
    # One activation per unit even under concurrent attempts with two valid codes.
    conn.execute("select pg_advisory_xact_lock(hashtext('unit-activation'), %s::int)", (unit_id % 2_000_000_000,))
    if has_operators(conn, unit_id):
        conn.rollback()
        raise AlreadyActivated()
    account_id = admin.insert_unit_operator(
        conn, cfg, unit_id, f.login, f.display_name, f.phone, f.password, True, now, f"activation:{how}"
    )
    # Other counter codes of the unit are dead once it is activated.
    conn.execute(
        "update hub.unit_activation_code set revoked_at = %s where unit_id = %s and used_at is null "
        "and revoked_at is null",
        (now, unit_id),
    )
    audit.event(
        conn, "unit.activate", "ok", at=now, actor_kind="unit_operator", actor=account_id, target_type="unit",
        target_id=str(unit_id), purpose=how, ip=ip,
    )  # fmt: skip
    conn.commit()
    log.info("unit %s activated (%s), administrator %s", unit_id, how, account_id)
    return Activated(account_id, unit_id, f.login)


# Operators of a unit (the unit administrator) ------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    account_id: str
    login: str
    display_name: str
    phone_masked: str
    unit_admin: bool
    active: bool
    created_at: datetime


def require_unit_admin(conn: psycopg.Connection[Any], subject: Subject) -> accounts.Account:
    """The caller's account if it is, now, an active administrator of its unit; else Forbidden."""
    if subject.kind is not SubjectKind.UNIT_OPERATOR or subject.unit_id is None:
        raise NotUnitAdministrator()
    account = accounts.get(conn, subject.account_id)
    if account is None or not account.active or not account.unit_admin or account.unit_id != subject.unit_id:
        raise NotUnitAdministrator()
    return account


def list_operators(conn: psycopg.Connection[Any], subject: Subject) -> list[Operator]:
    """The unit's operator accounts (phones masked). Unit administrator only."""
    me = require_unit_admin(conn, subject)
    rows = conn.execute(
        "select id, login, display_name, phone_enc, phone, unit_admin, status, created_at from hub.account "
        "where kind = 'unit_operator' and unit_id = %s order by unit_admin desc, created_at, id",
        (me.unit_id,),
    ).fetchall()
    phones = [accounts.phone_of(conn, str(r[0]), r[3], r[4]) for r in rows]
    return [
        Operator(str(i), str(lg), str(n), mask_phone(p) if p else "—", bool(a), s == "active", c)
        for (i, lg, n, _e, _p, a, s, c), p in zip(rows, phones, strict=True)
    ]


def add_operator(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    subject: Subject,
    *,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    now: datetime,
) -> str:
    """A new (non-administrator) operator of the caller's unit. Unit administrator only. Never commits.

    Raises the field errors, WeakPassword, Conflict (the login is taken in this unit), Forbidden.
    """
    me = require_unit_admin(conn, subject)
    assert me.unit_id is not None
    f = _fields(cfg, login, display_name, phone, password)
    # The hub DB, not the session's snapshot, says who administers the unit (a handover may be recent).
    actor = replace(subject, unit_admin=True)
    return admin.create_unit_operator(
        conn, cfg, actor, unit_id=me.unit_id, login=f.login, display_name=f.display_name, phone=f.phone,
        password=f.password, unit_admin=False, now=now,
    )  # fmt: skip


def _colleague(conn: psycopg.Connection[Any], me: accounts.Account, account_id: str) -> accounts.Account:
    target = accounts.get(conn, account_id)
    if target is None or target.kind is not SubjectKind.UNIT_OPERATOR or target.unit_id != me.unit_id:
        raise NotFound()
    if target.id == me.id:
        raise Forbidden("不能对自己的账号执行此操作")
    return target


def _admin_event(conn: psycopg.Connection[Any], action: str, me: accounts.Account, target: str, now: datetime) -> None:
    audit.event(
        conn, action, "ok", at=now, actor_kind="unit_operator", actor=me.id, target_id=target, purpose="unit_admin"
    )


def set_operator_status(
    conn: psycopg.Connection[Any], subject: Subject, account_id: str, *, active: bool, now: datetime
) -> None:
    """Disable or re-enable another operator of the caller's unit. Unit administrator only. Never commits."""
    me = require_unit_admin(conn, subject)
    target = _colleague(conn, me, account_id)
    conn.execute("update hub.account set status = %s where id = %s", ("active" if active else "disabled", target.id))
    _admin_event(conn, "account.enable" if active else "account.disable", me, target.id, now)


def transfer_admin(conn: psycopg.Connection[Any], subject: Subject, account_id: str, *, now: datetime) -> None:
    """Hand the unit administrator flag to another active operator of the unit (交接). Never commits.

    Afterwards the caller is an ordinary operator; there is exactly one administrator throughout.
    """
    me = require_unit_admin(conn, subject)
    target = _colleague(conn, me, account_id)
    if not target.active:
        raise Forbidden("该经办人账号已停用，不能移交管理员")
    conn.execute("update hub.account set unit_admin = false where id = %s", (me.id,))
    conn.execute("update hub.account set unit_admin = true where id = %s", (target.id,))
    _admin_event(conn, "unit.admin_transfer", me, target.id, now)
