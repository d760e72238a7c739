"""Account administration under 三员分离 (DOMAIN.md §6.1) and unit administrators.

- The system administrator creates staff accounts (without roles) and a unit's first administrator, and
  disables or re-enables accounts.
- The security administrator grants and revokes roles; never to themself, and an account holds at most
  one of the three administrator roles.
- The auditor reads the audit log (``may_read_audit``) and does nothing else here.
- A unit's administrator creates the unit's other operators.
None can do another's job; each refusal raises ``Forbidden``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyotp

from hub.access.subject import StaffRole, Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts
from hub.identity.config import IdentityConfig
from hub.identity.crypto import seal
from hub.identity.errors import Conflict, Forbidden, IdentityError, NotFound
from hub.identity.passwords import hash_password

ADMIN_ROLES = frozenset({StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.AUDITOR})


def may_read_audit(subject: Subject) -> bool:
    return subject.has_role(StaffRole.AUDITOR)


def _require(subject: Subject, role: StaffRole) -> None:
    if not subject.has_role(role):
        raise Forbidden()


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
    """System administrator only. The account starts without roles. Never commits."""
    _require(actor, StaffRole.SYSTEM_ADMIN)
    account_id = _insert_staff(conn, cfg, login, display_name, phone, password, region_codes, now, actor.account_id)
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
        raise Forbidden("不能停用自己的账号")
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
        raise Forbidden("安装时只能建立系统管理员、安全管理员和审计管理员")
    conn.execute("select pg_advisory_xact_lock(hashtext('hub.install_administrator'))")
    held = conn.execute("select 1 from hub.account_role where role = %s limit 1", (role.value,)).fetchone()
    if held is not None:
        audit.event(conn, "account.install", "refused", at=now, actor_kind="system", actor="bootstrap",
                    target_id="", purpose=role.value)  # fmt: skip
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
        raise Forbidden("不能为自己授权")
    target = accounts.get(conn, account_id)
    if target is None or target.kind is not SubjectKind.STAFF:
        raise NotFound()
    if role in ADMIN_ROLES and (target.roles & ADMIN_ROLES) - {role}:
        raise Forbidden("系统管理员、安全管理员、审计管理员须由不同人员担任（三员分离）")
    accounts.add_role(conn, account_id, role, actor.account_id, now)
    _event(conn, "role.grant", actor, account_id, now, role.value)


def revoke_role(conn: psycopg.Connection[Any], actor: Subject, account_id: str, role: StaffRole) -> None:
    _require(actor, StaffRole.SECURITY_ADMIN)
    if account_id == actor.account_id:
        raise Forbidden("不能变更自己的权限")
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
    with its administrator. Never commits."""
    if actor.kind is SubjectKind.UNIT_OPERATOR:
        if not actor.unit_admin or actor.unit_id != unit_id or unit_admin:
            raise Forbidden()
    elif not actor.has_role(StaffRole.SYSTEM_ADMIN) or not unit_admin:
        raise Forbidden()
    account_id = insert_unit_operator(
        conn, cfg, unit_id, login, display_name, phone, password, unit_admin, now, actor.account_id
    )
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
