"""A person's consent to a staff lookup at a hall counter (大厅服务) or the 12333 agent desk.

Staff read a person's records only with that person's consent, given in one of two ways:

- an SMS code sent to the phone the core holds for the person, which the person reads out to the staff
  member (``request_consent`` then ``confirm_consent``);
- at a hall counter, a signed written authorisation brought by an agent acting for the person: the
  staff member records the document's number and the agent's ID type and number
  (``record_written_authorisation``); the agent's ID number is kept only as a keyed hash and masked.

A grant lets exactly one staff account read exactly one person until it expires (30 minutes unless
configured otherwise). A code yields one grant only. Every step is audited: the request, the grant (or
the refusal), and each use (``use_grant``). Nothing here logs an ID number, phone number or code.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
import redis

from hub import ids
from hub.access.rules import DATA_ROLES
from hub.access.subject import Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import codes, core_lookup, documents
from hub.identity.config import IdentityConfig
from hub.identity.crypto import keyed_hash
from hub.identity.errors import Forbidden, IdentityError, InvalidCode, NoPhoneOnRecord

log = logging.getLogger(__name__)

PURPOSE = "staff_consent"
GRANT_SECONDS = 30 * 60
AUDIT_PURPOSE = "consent"


class PersonNotFound(IdentityError):
    """Unknown ID number, or a person outside the staff member's 统筹区: the same answer."""

    type = "person-not-found"
    title = "未找到该参保人"
    status = 404


class InvalidAuthorisation(IdentityError):
    type = "invalid-authorisation"
    title = "授权委托信息不完整或不正确"
    status = 400


@dataclass(frozen=True)
class ConsentRequest:
    ticket: str
    phone_masked: str
    expires_at: datetime


@dataclass(frozen=True)
class Grant:
    id: str
    staff_account: str
    person_id: int
    basis: str
    granted_at: datetime
    expires_at: datetime


def _require_staff(staff: Subject) -> None:
    if staff.kind is not SubjectKind.STAFF or not staff.roles & DATA_ROLES:
        raise Forbidden("仅限经办或复核岗位的工作人员查询参保人信息")


def _event(
    conn: psycopg.Connection[Any], staff: Subject, action: str, result: str, person_id: int | None, now: datetime
) -> None:
    audit.event(
        conn,
        action,
        result,
        at=now,
        actor_kind="staff",
        actor=staff.account_id,
        target_type="person",
        target_id=str(person_id) if person_id is not None else "",
        purpose=AUDIT_PURPOSE,
        client_id=staff.client_id,
        channel=staff.channel.value,
    )


def _person(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    staff: Subject,
    action: str,
    document_type: str,
    document_number: str,
    now: datetime,
) -> core_lookup.CorePerson:
    """The person behind an ID number, if in the staff member's 统筹区; audits and commits a miss."""
    try:
        compact = documents.normalize(document_type, document_number)
    except IdentityError:
        compact = None
    person = core_lookup.find_person(core, document_type, compact) if compact else None
    if person is None or person.region_code not in staff.region_codes:
        _event(conn, staff, action, "not_found", None, now)
        conn.commit()
        raise PersonNotFound()
    return person


def _insert(
    conn: psycopg.Connection[Any], staff: Subject, person_id: int, basis: str, now: datetime, seconds: int, **extra: Any
) -> Grant:
    grant = Grant(secrets.token_urlsafe(16), staff.account_id, person_id, basis, now, now + timedelta(seconds=seconds))
    columns = ["id", "staff_account", "person_id", "basis", "granted_at", "expires_at", *extra]
    values = [grant.id, grant.staff_account, person_id, basis, now, grant.expires_at, *extra.values()]
    conn.execute(
        f"insert into hub.consent_grant ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
        values,
    )
    return grant


def request_consent(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    staff: Subject,
    *,
    document_type: str,
    document_number: str,
    now: datetime,
) -> ConsentRequest:
    """Send the person a consent code by SMS, bound to this staff account and this person. Commits.

    The send caps of ``hub.identity.codes`` apply, per person's phone and per staff account. Raises
    Forbidden, PersonNotFound, NoPhoneOnRecord and the code-sending errors.
    """
    _require_staff(staff)
    person = _person(conn, core, staff, "consent.request", document_type, document_number, now)
    if not core_lookup.is_mobile(person.phone) or person.phone is None:
        _event(conn, staff, "consent.request", "no_phone", person.person_id, now)
        conn.commit()
        raise NoPhoneOnRecord("该参保人未预留有效手机号码，请使用书面授权委托办理")
    sent = codes.send_code(
        conn,
        r,
        cfg.codes,
        purpose=PURPOSE,
        binding=f"consent:{staff.account_id}:{person.person_id}",
        phone=person.phone,
        ip=f"staff:{keyed_hash(cfg.hmac_key, 'consent-staff', staff.account_id)[:16]}",
        now=now,
    )
    _event(conn, staff, "consent.request", "ok", person.person_id, now)
    conn.commit()
    log.info("consent code requested by staff %s for person %s", staff.account_id, person.person_id)
    return ConsentRequest(sent.ticket, sent.phone_masked, sent.expires_at)


def confirm_consent(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    staff: Subject,
    *,
    ticket: str,
    code: str,
    now: datetime,
    grant_seconds: int = GRANT_SECONDS,
) -> Grant:
    """The code the person read out → a grant for the staff account that asked. Commits.

    Only the staff account that requested the code may redeem it, once. Raises Forbidden, InvalidCode.
    """
    _require_staff(staff)
    pending = codes.peek(conn, ticket=ticket, purpose=PURPOSE, now=now)
    prefix = f"consent:{staff.account_id}:"
    if pending is None or not pending.binding.startswith(prefix):
        _event(conn, staff, "consent.grant", "failed", None, now)
        conn.commit()
        raise InvalidCode()
    person_id = int(pending.binding[len(prefix) :])
    try:
        codes.check_code(conn, cfg.codes, ticket=ticket, purpose=PURPOSE, code=code, now=now)
    except InvalidCode:
        _event(conn, staff, "consent.grant", "failed", person_id, now)
        conn.commit()
        raise
    grant = _insert(conn, staff, person_id, "sms", now, grant_seconds, ticket=ticket)
    _event(conn, staff, "consent.grant", "ok", person_id, now)
    conn.commit()
    return grant


def record_written_authorisation(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    staff: Subject,
    *,
    document_type: str,
    document_number: str,
    authorisation_number: str,
    agent_document_type: str,
    agent_document_number: str,
    now: datetime,
    grant_seconds: int = GRANT_SECONDS,
) -> Grant:
    """An agent's signed authorisation, checked by the staff member at the counter → a grant. Commits.

    The agent's ID number is validated, then stored only as a keyed hash and in masked form. Raises
    Forbidden, PersonNotFound, InvalidAuthorisation (audited as refused, nothing else written).
    """
    _require_staff(staff)
    person = _person(conn, core, staff, "consent.written", document_type, document_number, now)

    def refuse(detail: str) -> InvalidAuthorisation:
        _event(conn, staff, "consent.written", "refused", person.person_id, now)
        conn.commit()
        return InvalidAuthorisation(detail)

    number = authorisation_number.strip()
    if not number or len(number) > 64:
        raise refuse("请填写授权委托书编号（不超过64个字符）")
    try:
        agent = documents.normalize(agent_document_type, agent_document_number)
    except IdentityError as exc:
        raise refuse(f"受托人{exc.detail}") from None
    if person.document_type == agent_document_type and person.document_number == agent:
        raise refuse("受托人不能是参保人本人；本人到场请使用短信验证码授权")
    grant = _insert(
        conn,
        staff,
        person.person_id,
        "written",
        now,
        grant_seconds,
        authorisation_number=number,
        agent_document_type=agent_document_type,
        agent_document_hash=keyed_hash(cfg.hmac_key, "consent-agent", f"{agent_document_type}:{agent}"),
        agent_document_masked=ids.mask_id_number(agent),
    )
    _event(conn, staff, "consent.written", "ok", person.person_id, now)
    conn.commit()
    return grant


def active_grant(conn: psycopg.Connection[Any], staff_account: str, person_id: int, now: datetime) -> bool:
    """Whether ``staff_account`` holds an unexpired grant for ``person_id``."""
    row = conn.execute(
        "select 1 from hub.consent_grant where staff_account = %s and person_id = %s "
        "and granted_at <= %s and expires_at > %s limit 1",
        (staff_account, person_id, now, now),
    ).fetchone()
    return row is not None


def use_grant(conn: psycopg.Connection[Any], staff: Subject, person_id: int, action: str, now: datetime) -> bool:
    """Check the grant for one read of ``person_id`` and audit the use (or the refusal). Commits."""
    ok = staff.kind is SubjectKind.STAFF and active_grant(conn, staff.account_id, person_id, now)
    _event(conn, staff, f"consent.use:{action}", "ok" if ok else "refused", person_id, now)
    conn.commit()
    return ok
