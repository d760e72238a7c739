"""A unit administrator's password re-issued by the system administrator, at the agency counter.

A unit's administrator (单位管理员) who forgot the password and cannot use the SMS self-service reset (the
phone was lost or changed) comes to the agency with the unit's papers; the system administrator (系统管理员)
looks the unit up by 统一社会信用代码 or 单位编号 (``find``), sees its administrator operators (names and
phones masked, status, lockout) and re-issues a temporary password to one of them (``reset_password``) with
``password_change.reissue``: changed at the next login, refused after ``temporary_password_days``, every
OAuth grant revoked, lockout counters cleared, an SMS notice (never the password) to the operator's phone,
and one audit record of the reset (purpose ``admin:unit_admin``).

Row-level rule as for every staff read: only units of the administrator's agency 统筹区
(``Subject.region_codes``); a unit elsewhere, and an operator who is not the unit's administrator (they
stay with their own unit administrator), answer exactly like a missing one. Anyone but the system
administrator is refused with ``refusals.Refused`` (recorded by the pages as a refused attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from hub.access.subject import StaffRole, Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts, core_lookup, password_change
from hub.identity.admin import PASSWORD_RESET, SYSTEM_ADMIN_NAME, PasswordReset, temporary_password
from hub.identity.config import IdentityConfig
from hub.identity.errors import IdentityError, NotFound
from hub.identity.lockout import GLOBAL
from hub.identity.refusals import ROLE_REQUIRED, Refused
from hub.ids import InvalidIdentifier, mask_name, mask_phone, validate_uscc

LOOKUP = "unit.admin_lookup"  # the audit action of a lookup (result ``ok`` or ``not_found``)
PURPOSE = "admin:unit_admin"  # the reset's audit purpose: by the system administrator, of a unit administrator
UNIT_NUMBER_DIGITS = 17  # 单位编号: at most 17 digits (18 characters are a 统一社会信用代码)
MISSING = "该单位管理员账号不存在"

LockState = Literal["none", "source", "global"]


class InvalidUnitCode(IdentityError):
    """The typed unit code is neither a valid 统一社会信用代码 nor a 单位编号; ``detail`` says why."""

    type = "invalid-unit-code"
    title = "单位代码不正确"
    status = 422


@dataclass(frozen=True)
class UnitAdmin:
    account_id: str
    login: str
    name_masked: str
    phone_masked: str
    active: bool
    lock: LockState  # none; locked for some source (minutes); locked everywhere (the owner's SMS unlock)


@dataclass(frozen=True)
class UnitAdmins:
    unit_id: int
    uscc: str
    name: str
    admins: tuple[UnitAdmin, ...]


def require_system_admin(actor: Subject) -> None:
    if not actor.has_role(StaffRole.SYSTEM_ADMIN):
        raise Refused(ROLE_REQUIRED)


def compact_code(value: str) -> str:
    """A typed unit code without spaces, upper case (what is looked up, and what the audit record names)."""
    return "".join(value.split()).upper()


def parse_unit_code(value: str) -> str:
    """The compact code: 18 characters are a 统一社会信用代码 (checked, GB 32100 and GB 11714), 1 to 17 digits
    a 单位编号. Raises InvalidUnitCode with the reason in Chinese."""
    code = compact_code(value)
    if not code:
        raise InvalidUnitCode("请输入统一社会信用代码或单位编号")
    if len(code) == 18:
        try:
            return validate_uscc(code)
        except InvalidIdentifier as exc:
            raise InvalidUnitCode(exc.message) from None
    if code.isascii() and code.isdigit() and len(code) <= UNIT_NUMBER_DIGITS and int(code) > 0:
        return code
    raise InvalidUnitCode("请输入18位统一社会信用代码，或不超过17位数字的单位编号")


def _visible_unit(core: psycopg.Connection[Any], actor: Subject, code: str) -> core_lookup.CoreUnit | None:
    unit = core_lookup.find_unit(core, code)
    return unit if unit is not None and unit.region_code in actor.region_codes else None


def _lock_states(hub: psycopg.Connection[Any], cfg: IdentityConfig, ids: list[str], now: datetime) -> dict[str, Any]:
    rows = hub.execute(
        "select account_id, bool_or(source = %(g)s and failures >= %(n)s), "
        "bool_or(source <> %(g)s and locked_until > %(now)s) from hub.login_failure "
        "where account_id = any(%(ids)s) and source not like 'pin:%%' group by account_id",
        {"g": GLOBAL, "n": cfg.lockout.global_failures, "now": now, "ids": ids},
    ).fetchall()
    return {str(r[0]): "global" if r[1] else "source" if r[2] else "none" for r in rows}


def find(
    hub: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Subject,
    unit_code: str,
    *,
    now: datetime,
) -> UnitAdmins | None:
    """The unit of ``unit_code`` with its administrator operators, or None when there is no such unit in the
    caller's 统筹区 (a unit elsewhere answers the same). System administrator only. Audits the lookup (the
    code typed, ``ok`` or ``not_found``); never commits. Raises Forbidden (Refused), InvalidUnitCode."""
    require_system_admin(actor)
    code = parse_unit_code(unit_code)
    unit = _visible_unit(core, actor, code)
    audit.event(
        hub, LOOKUP, "ok" if unit else "not_found", at=now, actor_kind=actor.kind.value, actor=actor.account_id,
        target_type="unit", target_id=code, purpose="admin", client_id=actor.client_id, channel=actor.channel.value,
    )  # fmt: skip
    if unit is None:
        return None
    rows = hub.execute(
        "select id, login, display_name, phone_enc, phone, status from hub.account "
        "where kind = 'unit_operator' and unit_id = %s and unit_admin order by created_at, id",
        (unit.unit_id,),
    ).fetchall()
    locks = _lock_states(hub, cfg, [str(r[0]) for r in rows], now)
    admins = []
    for account_id, login, name, envelope, plain, status in rows:
        phone = accounts.phone_of(hub, str(account_id), envelope, plain)
        admins.append(
            UnitAdmin(
                account_id=str(account_id),
                login=str(login),
                name_masked=mask_name(str(name)),
                phone_masked=mask_phone(phone) if phone else "—",
                active=status == "active",
                lock=locks.get(str(account_id), "none"),
            )
        )
    return UnitAdmins(unit.unit_id, unit.uscc, unit.name, tuple(admins))


def reset_target(
    hub: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    actor: Subject,
    account_id: str,
    *,
    lock: bool = False,
) -> tuple[accounts.Account, core_lookup.CoreUnit]:
    """The unit administrator ``account_id`` and its unit, if the system administrator may reset it: an
    administrator operator of a unit in the caller's 统筹区 (``lock``: the account row is locked until the
    transaction ends, so a concurrent handover cannot slip in). Raises Forbidden (Refused: role),
    NotFound (also for an ordinary operator, a unit elsewhere, any other account)."""
    require_system_admin(actor)
    if lock:
        hub.execute("select 1 from hub.account where id = %s for update", (account_id,))
    target = accounts.get(hub, account_id)
    if target is None or target.kind is not SubjectKind.UNIT_OPERATOR or not target.unit_admin:
        raise NotFound(MISSING)
    unit = _visible_unit(core, actor, str(target.unit_id)) if target.unit_id else None
    if unit is None:
        raise NotFound(MISSING)
    return target, unit


def reset_password(
    hub: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Subject,
    account_id: str,
    *,
    now: datetime,
) -> tuple[PasswordReset, core_lookup.CoreUnit]:
    """A new temporary password for the unit administrator ``account_id`` (``reset_target``), handed over
    once: changed at the next login, refused after ``temporary_password_days``; its grants revoked, lockout
    cleared, an SMS notice queued to its phone, the reset audited (never the password). Never commits;
    after the commit the caller ends its sessions (``password_change.end_other_sessions``)."""
    target, unit = reset_target(hub, core, actor, account_id, lock=True)
    password = temporary_password()
    changed, expires_at = password_change.reissue(
        hub, cfg, target, password, now, notice=password_change.reset_notice_text(now, SYSTEM_ADMIN_NAME)
    )
    audit.event(
        hub, PASSWORD_RESET, "ok", at=now, actor_kind=actor.kind.value, actor=actor.account_id, target_id=target.id,
        purpose=PURPOSE, client_id=actor.client_id, channel=actor.channel.value,
    )  # fmt: skip
    reset = PasswordReset(target.id, target.login, mask_name(target.display_name), password, expires_at, changed)
    return reset, unit
