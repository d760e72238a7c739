"""Account administration under 三员分离 (DOMAIN.md §6.1) and unit administrators.

- The system administrator creates staff accounts (without roles; from the pages with a temporary
  password) and a unit's first administrator, disables or re-enables accounts, resets a staff
  member's second factor and re-issues a temporary password (``reset_staff_password``).
- The security administrator grants and revokes roles; never to themself, and an account holds at most
  one of the three administrator roles.
- The auditor reads the audit log (``may_read_audit``; ``query_audit``, ``export_audit``) and has its chains
  verified in the background (``start_verification``, ``verification``), and does nothing else here.
- A unit's administrator creates the unit's other operators and re-issues their temporary passwords
  (``reset_unit_operator_password``).
None can do another's job; each refusal raises ``Forbidden`` (``refusals.Refused``, with the reason code the
pages and the command line record in the audit chain as a refused attempt).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyotp

from hub.access.subject import StaffRole, Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.audit import verify_job
from hub.identity import accounts, core_lookup, password_change
from hub.identity.config import IdentityConfig
from hub.identity.crypto import seal
from hub.identity.errors import Conflict, Forbidden, IdentityError, NotFound
from hub.identity.passwords import hash_password
from hub.identity.refusals import (
    ALREADY_INSTALLED,
    NOT_ADMIN_ROLE,
    OTHER_UNIT,
    ROLE_REQUIRED,
    SELF,
    SEPARATION,
    Refused,
)
from hub.ids import mask_id_number, mask_phone

ADMIN_ROLES = frozenset({StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.AUDITOR})


def may_read_audit(subject: Subject) -> bool:
    return subject.has_role(StaffRole.AUDITOR)


def _require(subject: Subject, role: StaffRole) -> None:
    if not subject.has_role(role):
        raise Refused(ROLE_REQUIRED)


def create_staff(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Subject,
    *,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    region_codes: Iterable[str],
    now: datetime,
) -> str:
    """System administrator only. The account starts without roles; its password is temporary (changed at
    the first login, refused after ``temporary_password_days``). Never commits."""
    _require(actor, StaffRole.SYSTEM_ADMIN)
    account_id = _insert_staff(conn, cfg, login, display_name, phone, password, region_codes, now, actor.account_id)
    password_change.issue_temporary(conn, cfg, account_id, now)
    _event(conn, "account.create", actor, account_id, now)
    return account_id


def _event(
    conn: psycopg.Connection[Any], action: str, actor: Subject, target_id: str, now: datetime, purpose: str = "admin"
) -> None:
    audit.event(
        conn,
        action,
        "ok",
        at=now,
        actor_kind=actor.kind.value,
        actor=actor.account_id,
        target_id=target_id,
        purpose=purpose,
        client_id=actor.client_id,
        channel=actor.channel.value,
    )


def _insert_staff(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    region_codes: Iterable[str],
    now: datetime,
    created_by: str,
) -> str:
    cfg.passwords.check(password)
    if accounts.find(conn, SubjectKind.STAFF, login) is not None:
        raise Conflict()
    return accounts.insert(
        conn,
        kind=SubjectKind.STAFF,
        login=login,
        display_name=display_name,
        password_hash=hash_password(password),
        now=now,
        phone=phone,
        region_codes=region_codes,
        created_by=created_by,
    )


def set_account_status(conn: psycopg.Connection[Any], actor: Subject, account_id: str, *, active: bool) -> None:
    """System administrator only (and never their own account): disable or re-enable a staff or unit
    account. A disabled account's logins fail like a wrong password. Never commits."""
    _require(actor, StaffRole.SYSTEM_ADMIN)
    if account_id == actor.account_id:
        raise Refused(SELF, "不能停用自己的账号")
    if accounts.get(conn, account_id) is None:
        raise NotFound()
    conn.execute("update hub.account set status = %s where id = %s", ("active" if active else "disabled", account_id))
    _event(conn, "account.enable" if active else "account.disable", actor, account_id, datetime.now(UTC))


def bootstrap_staff(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    role: StaffRole,
    region_codes: Iterable[str],
    now: datetime,
) -> str:
    """Installation only (the command line and the demo): a staff account with one role. Never commits."""
    account_id = _insert_staff(conn, cfg, login, display_name, phone, password, region_codes, now, "bootstrap")
    accounts.add_role(conn, account_id, role, "bootstrap", now)
    for action, purpose in (("account.create", "bootstrap"), ("role.grant", role.value)):
        audit.event(
            conn, action, "ok", at=now, actor_kind="system", actor="bootstrap", target_id=account_id, purpose=purpose
        )
    return account_id


class AlreadyInstalled(IdentityError):
    type = "already-installed"
    title = "该管理员已存在"
    status = 409


def install_administrator(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    role: StaffRole,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    region_codes: Iterable[str],
    now: datetime,
) -> str:
    """``hub admin bootstrap``: the first holder of one of the three 三员 roles, and only the first.

    Once an account holds the role, every later one comes from the application (the system
    administrator creates accounts, the security administrator grants roles). Serialised by an
    advisory lock, so two installers at once cannot both succeed. Never commits.
    """
    if role not in ADMIN_ROLES:
        audit.event(conn, "account.install", "refused", at=now, actor_kind="system", actor="bootstrap",
                    target_id="", purpose=f"{NOT_ADMIN_ROLE}:{role.value}")  # fmt: skip
        raise Refused(NOT_ADMIN_ROLE, "安装时只能建立系统管理员、安全管理员和审计管理员")
    conn.execute("select pg_advisory_xact_lock(hashtext('hub.install_administrator'))")
    held = conn.execute("select 1 from hub.account_role where role = %s limit 1", (role.value,)).fetchone()
    if held is not None:
        audit.event(conn, "account.install", "refused", at=now, actor_kind="system", actor="bootstrap",
                    target_id="", purpose=f"{ALREADY_INSTALLED}:{role.value}")  # fmt: skip
        raise AlreadyInstalled(f"已有账号担任{_ROLE_NAMES[role]}，后续账号请由系统管理员在系统中建立")
    return bootstrap_staff(
        conn, cfg, login=login, display_name=display_name, phone=phone, password=password, role=role,
        region_codes=region_codes, now=now,
    )  # fmt: skip


_ROLE_NAMES = {
    StaffRole.SYSTEM_ADMIN: "系统管理员",
    StaffRole.SECURITY_ADMIN: "安全管理员",
    StaffRole.AUDITOR: "审计管理员",
    StaffRole.OPERATOR: "经办人员",
    StaffRole.REVIEWER: "审核人员",
}


def grant_role(
    conn: psycopg.Connection[Any], actor: Subject, account_id: str, role: StaffRole, *, now: datetime
) -> None:
    """Security administrator only; not to themself; at most one administrator role per account."""
    _require(actor, StaffRole.SECURITY_ADMIN)
    if account_id == actor.account_id:
        raise Refused(SELF, "不能为自己授权")
    target = accounts.get(conn, account_id)
    if target is None or target.kind is not SubjectKind.STAFF:
        raise NotFound()
    if role in ADMIN_ROLES and (target.roles & ADMIN_ROLES) - {role}:
        raise Refused(SEPARATION, "系统管理员、安全管理员、审计管理员须由不同人员担任（三员分离）")
    accounts.add_role(conn, account_id, role, actor.account_id, now)
    _event(conn, "role.grant", actor, account_id, now, role.value)


def revoke_role(conn: psycopg.Connection[Any], actor: Subject, account_id: str, role: StaffRole) -> None:
    _require(actor, StaffRole.SECURITY_ADMIN)
    if account_id == actor.account_id:
        raise Refused(SELF, "不能变更自己的权限")
    accounts.remove_role(conn, account_id, role)
    _event(conn, "role.revoke", actor, account_id, datetime.now(UTC), role.value)


def create_unit_operator(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Subject,
    *,
    unit_id: int,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    unit_admin: bool = False,
    now: datetime,
) -> str:
    """A unit's administrator adds operators of their own unit; the system administrator opens a unit
    with its administrator. The password is temporary (changed at the first login). Never commits."""
    if actor.kind is SubjectKind.UNIT_OPERATOR:
        if not actor.unit_admin or actor.unit_id != unit_id or unit_admin:
            raise Forbidden()
    elif not actor.has_role(StaffRole.SYSTEM_ADMIN) or not unit_admin:
        raise Forbidden()
    account_id = insert_unit_operator(
        conn, cfg, unit_id, login, display_name, phone, password, unit_admin, now, actor.account_id
    )
    password_change.issue_temporary(conn, cfg, account_id, now)
    _event(conn, "account.create", actor, account_id, now)
    return account_id


def insert_unit_operator(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    unit_id: int,
    login: str,
    display_name: str,
    phone: str,
    password: str,
    unit_admin: bool,
    now: datetime,
    created_by: str,
) -> str:
    cfg.passwords.check(password)
    if accounts.find(conn, SubjectKind.UNIT_OPERATOR, login, unit_id=unit_id) is not None:
        raise Conflict()
    return accounts.insert(
        conn,
        kind=SubjectKind.UNIT_OPERATOR,
        login=login,
        display_name=display_name,
        password_hash=hash_password(password),
        now=now,
        phone=phone,
        unit_id=unit_id,
        unit_admin=unit_admin,
        created_by=created_by,
    )


def enroll_totp(conn: psycopg.Connection[Any], cfg: IdentityConfig, account_id: str) -> str:
    """Give a staff account a TOTP secret (stored encrypted); returns the otpauth:// URI. Never commits."""
    account = accounts.get(conn, account_id)
    if account is None or account.kind is not SubjectKind.STAFF:
        raise NotFound()
    secret = pyotp.random_base32()
    accounts.set_totp(conn, account_id, seal(cfg.kek, secret.encode(), account_id.encode()))
    return pyotp.TOTP(secret).provisioning_uri(name=account.login, issuer_name="机关事业单位养老保险")


# The administration pages (portal_web/admin.py): listings, a staff account with a temporary password,
# the second-factor reset, and the auditor's query, export and chain verification. ------------------

_STAFF_LOGIN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{3,31}$")
_REGION = re.compile(r"^[0-9]{6}$")
_TEMP_ALPHABETS = ("ABCDEFGHJKMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789", "@#%+=-")
TEMPORARY_PASSWORD_LENGTH = 16
AUDIT_PAGE = 50
AUDIT_EXPORT_MAX = 10000


class InvalidStaffField(IdentityError):
    """A field of the new-account form; ``field`` names it for the page."""

    type = "invalid-field"
    title = "填写的内容有误"
    status = 400

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


@dataclass(frozen=True)
class StaffListing:
    account_id: str
    login: str
    display_name: str
    phone_masked: str
    active: bool
    roles: frozenset[StaffRole]
    totp_enrolled: bool
    region_codes: tuple[str, ...]
    created_at: datetime


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _staff_rows(conn: psycopg.Connection[Any], search: str | None, limit: int, offset: int) -> list[StaffListing]:
    q = (search or "").strip()[:50] or None
    rows = conn.execute(
        "select a.id, a.login, a.display_name, a.phone_enc, a.status, "
        "coalesce((select array_agg(r.role order by r.role) from hub.account_role r where r.account_id = a.id), "
        "'{}'), a.totp_secret is not null, a.region_codes, a.created_at, a.phone from hub.account a "
        "where a.kind = 'staff' and (%(q)s::text is null or a.login ilike %(p)s or a.display_name ilike %(p)s) "
        "order by a.login limit %(n)s offset %(o)s",
        {"q": q, "p": _like(q or ""), "n": limit, "o": offset},
    ).fetchall()
    phones = [accounts.phone_of(conn, str(r[0]), r[3], r[9]) for r in rows]
    return [
        StaffListing(
            account_id=r[0],
            login=r[1],
            display_name=r[2],
            phone_masked=mask_phone(phone) if phone else "—",
            active=r[4] == "active",
            roles=frozenset(StaffRole(x) for x in r[5]),
            totp_enrolled=bool(r[6]),
            region_codes=tuple(r[7] or ()),
            created_at=r[8],
        )
        for r, phone in zip(rows, phones, strict=True)
    ]


def list_accounts(
    conn: psycopg.Connection[Any], actor: Subject, *, search: str | None = None, limit: int = 50, offset: int = 0
) -> list[StaffListing]:
    """The staff accounts, by login, optionally matching ``search`` (login or name). System administrator."""
    _require(actor, StaffRole.SYSTEM_ADMIN)
    return _staff_rows(conn, search, limit, offset)


def list_role_holders(
    conn: psycopg.Connection[Any], actor: Subject, *, search: str | None = None, limit: int = 50, offset: int = 0
) -> list[StaffListing]:
    """The same listing for granting roles. Security administrator."""
    _require(actor, StaffRole.SECURITY_ADMIN)
    return _staff_rows(conn, search, limit, offset)


def temporary_password() -> str:
    """16 characters from four classes (no look-alikes): passes both password profiles."""
    chars = [secrets.choice(a) for a in _TEMP_ALPHABETS]
    everything = "".join(_TEMP_ALPHABETS)
    chars += [secrets.choice(everything) for _ in range(TEMPORARY_PASSWORD_LENGTH - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def create_staff_account(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Subject,
    *,
    login: str,
    display_name: str,
    phone: str,
    region_codes: Iterable[str],
    now: datetime,
) -> tuple[str, str]:
    """A staff account without roles and with a temporary password; (account id, password to hand over once).

    System administrator only; the roles come from the security administrator. Never commits.
    Raises InvalidStaffField, Conflict (the login is taken), Forbidden.
    """
    _require(actor, StaffRole.SYSTEM_ADMIN)
    login = login.strip()
    if not _STAFF_LOGIN.match(login):
        raise InvalidStaffField("login", "工号须以字母开头，由4至32位字母、数字、下划线、点或连字符组成")
    name = display_name.strip()
    if not name or len(name) > 50:
        raise InvalidStaffField("display_name", "请填写姓名（不超过50个字）")
    mobile = "".join(phone.split())
    if not core_lookup.is_mobile(mobile):
        raise InvalidStaffField("phone", "请填写正确的11位手机号码")
    regions = sorted({r.strip() for r in region_codes if r.strip()})
    if not regions or not all(_REGION.match(r) for r in regions):
        raise InvalidStaffField("regions", "请填写统筹区编码（6位数字，多个以空格或逗号分隔）")
    password = temporary_password()
    account_id = create_staff(
        conn, cfg, actor, login=login, display_name=name, phone=mobile, password=password, region_codes=regions,
        now=now,
    )  # fmt: skip
    return account_id, password


def _staff_target(conn: psycopg.Connection[Any], actor: Subject, account_id: str) -> accounts.Account:
    target = accounts.get(conn, account_id)
    if target is None or target.kind is not SubjectKind.STAFF:
        raise NotFound()
    if target.id == actor.account_id:
        raise Refused(SELF, "不能对自己的账号执行此操作")
    return target


def reset_second_factor(conn: psycopg.Connection[Any], actor: Subject, account_id: str, *, now: datetime) -> None:
    """Remove a staff account's TOTP secret (a lost or replaced authenticator): its next login asks for an
    SMS code to the phone on record. System administrator only, never their own. Never commits."""
    _require(actor, StaffRole.SYSTEM_ADMIN)
    target = _staff_target(conn, actor, account_id)
    accounts.set_totp(conn, target.id, None)
    _event(conn, "account.second_factor_reset", actor, target.id, now)


# Re-issuing a temporary password (the owner forgot theirs and has no usable phone, or the temporary one
# ran out): the system administrator for staff accounts, a unit's administrator for the unit's operators.

PASSWORD_RESET = "account.password_reset"  # noqa: S105 (an audit action)
SYSTEM_ADMIN_NAME = "系统管理员"
UNIT_ADMIN_NAME = "本单位管理员"


@dataclass(frozen=True)
class PasswordReset:
    account_id: str
    login: str
    display_name: str
    password: str  # the new temporary password, handed over once and never stored or logged in clear
    expires_at: datetime
    changed: password_change.Changed  # for ``password_change.end_other_sessions`` after the commit


def staff_reset_target(conn: psycopg.Connection[Any], actor: Subject, account_id: str) -> accounts.Account:
    """The staff account whose password the system administrator may reset: any other staff account,
    another administrator's included (三员分离: accounts are the system administrator's job; the reset is
    audited and the owner notified). Never the caller's own: they change it on the change page.
    Raises Forbidden (Refused: role, self), NotFound."""
    _require(actor, StaffRole.SYSTEM_ADMIN)
    if account_id == actor.account_id:
        raise Refused(SELF, "不能重置自己的密码，请通过“修改密码”页面修改")
    return _staff_target(conn, actor, account_id)


def _reissue(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Subject,
    target: accounts.Account,
    by: str,
    purpose: str,
    now: datetime,
) -> PasswordReset:
    password = temporary_password()
    changed, expires_at = password_change.reissue(
        conn, cfg, target, password, now, notice=password_change.reset_notice_text(now, by)
    )
    _event(conn, PASSWORD_RESET, actor, target.id, now, purpose)
    return PasswordReset(target.id, target.login, target.display_name, password, expires_at, changed)


def reset_staff_password(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, actor: Subject, account_id: str, *, now: datetime
) -> PasswordReset:
    """A new temporary password for another staff account (``staff_reset_target``): changed at the next
    login, refused after ``temporary_password_days``; the account's grants are revoked, its lockout
    cleared, an SMS notice queued to its phone and the reset audited (the purpose names the target's
    administrator roles, if any; never the password). Never commits; after the commit the caller ends
    the account's sessions (``password_change.end_other_sessions``)."""
    target = staff_reset_target(conn, actor, account_id)
    held = sorted(r.value for r in target.roles & ADMIN_ROLES)
    purpose = "admin" + (":" + ",".join(held) if held else "")
    return _reissue(conn, cfg, actor, target, SYSTEM_ADMIN_NAME, purpose, now)


def unit_reset_target(conn: psycopg.Connection[Any], actor: Subject, account_id: str) -> accounts.Account:
    """The operator account whose password a unit's administrator may reset: another operator of their own
    unit. Who administers the unit is read from the hub DB now (a handover may postdate the session).
    Raises Forbidden (Refused: not the unit's administrator, self, another unit's operator), NotFound."""
    if actor.kind is not SubjectKind.UNIT_OPERATOR or actor.unit_id is None:
        raise Refused(ROLE_REQUIRED, "此功能仅供单位管理员使用")
    me = accounts.get(conn, actor.account_id)
    if me is None or not me.active or not me.unit_admin or me.unit_id != actor.unit_id:
        raise Refused(ROLE_REQUIRED, "此功能仅供单位管理员使用")
    if account_id == me.id:
        raise Refused(SELF, "不能重置自己的密码，请通过“修改密码”页面修改")
    target = accounts.get(conn, account_id)
    if target is None or target.kind is not SubjectKind.UNIT_OPERATOR:
        raise NotFound()
    if target.unit_id != me.unit_id:
        raise Refused(OTHER_UNIT, "只能重置本单位经办人的密码")
    return target


def reset_unit_operator_password(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, actor: Subject, account_id: str, *, now: datetime
) -> PasswordReset:
    """The same as ``reset_staff_password`` for an operator of the caller's unit (``unit_reset_target``),
    by the unit's administrator. Never commits."""
    target = unit_reset_target(conn, actor, account_id)
    return _reissue(conn, cfg, actor, target, UNIT_ADMIN_NAME, "unit_admin", now)


# The auditor ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor asks for; every field optional. Times are instants (the page converts)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." (``role.`` finds role.grant and role.revoke)
    channel: str | None = None
    result: str | None = None

    def describe(self) -> str:
        """The filter as recorded in the audit chain's ``purpose`` (ids and codes only, never free text)."""
        parts = [
            f"{k}={mask_subject(v) if k == 'target_id' else v}"
            for k, v in self.__dict__.items()
            if v is not None and k not in ("since", "until")
        ]
        for k in ("since", "until"):
            value = getattr(self, k)
            if value is not None:
                parts.append(f"{k}={value.isoformat()}")
        return ("audit:" + ";".join(parts))[:200]


@dataclass(frozen=True)
class AuditRow:
    chain_id: str
    seq: int
    at: datetime
    actor_kind: str
    actor: str
    client_id: str
    channel: str
    action: str
    target_type: str
    target_id: str
    purpose: str
    result: str
    ip: str


@dataclass(frozen=True)
class AuditResult:
    rows: list[AuditRow]
    next_cursor: tuple[datetime, int] | None


def mask_subject(value: str) -> str:
    """A record's subject as the auditor's pages show it: a document or phone number masked, ids as they are."""
    text = value.strip()
    if len(text) == 18 and text[:17].isdigit():
        return mask_id_number(text)
    if len(text) == 11 and text.isdigit() and text.startswith("1"):
        return mask_phone(text)
    return value


def _audit_where(f: AuditFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for column in ("actor", "target_type", "target_id", "channel", "result"):
        value = getattr(f, column)
        if value:
            clauses.append(f"{column} = %({column})s")
            params[column] = value
    if f.action:
        clauses.append("starts_with(action, %(action)s)" if f.action.endswith(".") else "action = %(action)s")
        params["action"] = f.action
    if f.since is not None:
        clauses.append("at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        clauses.append("at < %(until)s")
        params["until"] = f.until
    return (" and ".join(clauses) or "true"), params


def _audit_rows(
    conn: psycopg.Connection[Any], f: AuditFilter, after: tuple[datetime, int] | None, limit: int
) -> list[AuditRow]:
    where, params = _audit_where(f)
    if after is not None:
        where += " and (at, seq) < (%(after_at)s, %(after_seq)s)"
        params.update(after_at=after[0], after_seq=after[1])
    params["n"] = limit
    rows = conn.execute(
        "select chain_id, seq, at, actor_kind, actor, client_id, channel, action, target_type, target_id, purpose, "
        f"result, coalesce(ip, '') from hub.audit_log where {where} order by at desc, seq desc limit %(n)s",
        params,
    ).fetchall()
    return [AuditRow(*r) for r in rows]


def query_audit(
    conn: psycopg.Connection[Any],
    actor: Subject,
    f: AuditFilter,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = AUDIT_PAGE,
    now: datetime,
) -> AuditResult:
    """One page of audit records, newest first. Auditor only; the query itself joins the chain. Never commits."""
    _require(actor, StaffRole.AUDITOR)
    rows = _audit_rows(conn, f, after, limit + 1)
    _event(conn, "audit.query", actor, "*", now, f.describe())
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditResult(rows, (rows[-1].at, rows[-1].seq) if more and rows else None)


def export_audit(conn: psycopg.Connection[Any], actor: Subject, f: AuditFilter, *, now: datetime) -> list[AuditRow]:
    """Every matching record (newest first, at most ``AUDIT_EXPORT_MAX``) for a CSV file. Auditor only;
    recorded as ``audit.export``. Never commits."""
    _require(actor, StaffRole.AUDITOR)
    rows = _audit_rows(conn, f, None, AUDIT_EXPORT_MAX)
    _event(conn, "audit.export", actor, "*", now, f.describe())
    return rows


def start_verification(conn: psycopg.Connection[Any], actor: Subject, *, now: datetime) -> verify_job.Job:
    """Queue a verification of every chain and its signed anchors (``hub audit verify``) for the background
    worker (``hub audit run``), or return the one already queued or running. Auditor only; recorded as
    ``audit.verify_start`` (the worker records the outcome as ``audit.verify``). Never commits."""
    _require(actor, StaffRole.AUDITOR)
    job, created = verify_job.start(conn, actor.account_id, now)
    audit.event(
        conn, "audit.verify_start", "ok" if created else "already_running", at=now, actor_kind=actor.kind.value,
        actor=actor.account_id, target_type="audit", target_id="*", purpose=f"job:{job.id}",
        client_id=actor.client_id, channel=actor.channel.value,
    )  # fmt: skip
    return job


def verification(conn: psycopg.Connection[Any], actor: Subject, job_id: int | None = None) -> verify_job.Job | None:
    """One verification job (the latest when ``job_id`` is None), with its progress and result. Auditor only."""
    _require(actor, StaffRole.AUDITOR)
    return verify_job.latest(conn) if job_id is None else verify_job.get(conn, job_id)
