"""Person-originated requests sent to the core: 联系方式变更, 社保卡挂失 / 解挂, and a lost or changed mobile
number recovered at a hall counter or a kiosk.

A request is stored in the hub DB (``hub.person_request``) with the caller's idempotency key and moves
``submitted`` → ``sent`` → ``applied`` | ``failed`` (the core's reason); every transition is written to the
request's history, which the person sees as 办理进度, and to the audit chain in the same transaction.
The outbox worker (``hub.persons.requests_outbox``) sends each to the core's command API.

Every confirmation is checked before anything is written: a new mobile number by an SMS code sent to
that new number (purpose-bound, the binding names the person and the number), plus the login password
on the portal and the app; a card loss report or its reversal by the login password or an SMS code to
the phone on record. A wrong code or password writes no request (only the code's check count, the
password failure count and an audit record are kept). The same key again returns the request it made
and creates nothing; the same key with other content is refused. A request of another person answers
exactly like a missing one. Functions never commit, except that a refused code or password commits its
failure count (as the identity services do) before raising.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
import redis

from hub.access.rules import DATA_ROLES
from hub.access.subject import Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.errors import TYPE_BASE, Conflict, HubError, NotFound, ValidationFailed
from hub.identity import accounts, codes, core_lookup, documents, lockout
from hub.identity.config import IdentityConfig
from hub.identity.errors import IdentityError, InvalidCode, InvalidCredentials, NoPhoneOnRecord
from hub.identity.passwords import DUMMY_HASH, verify_password
from hub.ids import mask_phone
from hub.persons import requests_repo as repo

log = logging.getLogger(__name__)

MAX_KEY = 100
AUDIT_PURPOSE = "person_request"


class RequestType(StrEnum):
    CONTACT_CHANGE = "contact_change"
    CARD_LOSS = "card_loss"
    CARD_UNLOSS = "card_unloss"
    PHONE_RECOVERY = "phone_recovery"


class Status(StrEnum):
    SUBMITTED = "submitted"
    SENT = "sent"
    APPLIED = "applied"
    FAILED = "failed"


TYPE_LABELS = {
    RequestType.CONTACT_CHANGE: "联系方式变更",
    RequestType.CARD_LOSS: "社保卡挂失",
    RequestType.CARD_UNLOSS: "社保卡解挂",
    RequestType.PHONE_RECOVERY: "手机号码找回",
}
STATUS_LABELS = {
    Status.SUBMITTED: "已提交",
    Status.SENT: "已报送核心系统",
    Status.APPLIED: "已办结",
    Status.FAILED: "办理失败",
}
# The command type of the core's command API (core/commands.py) per request type.
CORE_TYPES = {
    RequestType.CONTACT_CHANGE: "person_contact",
    RequestType.PHONE_RECOVERY: "person_contact",
    RequestType.CARD_LOSS: "card_loss",
    RequestType.CARD_UNLOSS: "card_unloss",
}
PHONE_TYPES = frozenset({RequestType.CONTACT_CHANGE, RequestType.PHONE_RECOVERY})


class Purpose(StrEnum):
    """What an SMS code of these requests may confirm (a code never passes for another purpose)."""

    CONTACT = "person_contact"  # to the new number: 联系方式变更 on the portal or the app
    CARD = "person_card"  # to the phone on record: 挂失 / 解挂
    RECOVERY_HALL = "phone_recovery_hall"  # to the new number, at a hall counter
    RECOVERY_KIOSK = "phone_recovery_kiosk"  # to the new number, at a kiosk


class Refused(HubError):
    """A confirmation that failed (code, password, no phone on record): the identity error's status and text."""

    type = TYPE_BASE + "identity"

    def __init__(self, exc: IdentityError) -> None:
        super().__init__(exc.detail, code=exc.type)
        setattr(self, "status", exc.status)  # noqa: B010 (per instance, as channels.errors.ChannelRefused)
        setattr(self, "title", exc.title)  # noqa: B010


@dataclass(frozen=True)
class Actor:
    """Who submitted a request, as recorded: the person, a staff member at a counter, or the system."""

    kind: str
    account_id: str
    client_id: str = ""
    channel: str = ""

    @classmethod
    def of(cls, subject: Subject) -> Actor:
        return cls(subject.kind.value, subject.account_id, subject.client_id, subject.channel.value)


SYSTEM = Actor("system", "person-requests")


@dataclass(frozen=True)
class Event:
    at: datetime
    from_status: Status | None
    to_status: Status
    actor_kind: str
    reason: str | None

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.to_status]


@dataclass(frozen=True)
class PersonRequest:
    id: int
    reference: str
    person_id: int
    type: RequestType
    status: Status
    channel: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any] = field(repr=False)

    @property
    def type_label(self) -> str:
        return TYPE_LABELS[self.type]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def summary(self) -> str:
        """What was asked, with a phone number masked."""
        phone = self.payload.get("phone")
        if self.type in PHONE_TYPES and phone:
            also = [
                label for key, label in (("address", "通讯地址"), ("postal_code", "邮政编码")) if key in self.payload
            ]
            return f"新手机号码 {mask_phone(str(phone))}" + (f"，并变更{'、'.join(also)}" if also else "")
        return "挂失社会保障卡" if self.type is RequestType.CARD_LOSS else "解除社会保障卡挂失"


def _request(row: repo.Row) -> PersonRequest:
    return PersonRequest(
        row.id,
        row.reference,
        row.person_id,
        RequestType(row.type),
        Status(row.status),
        row.channel,
        row.reason,
        row.created_at,
        row.updated_at,
        row.finished_at,
        dict(row.payload),
    )


def _event(e: repo.EventRow) -> Event:
    return Event(e.at, Status(e.from_status) if e.from_status else None, Status(e.to_status), e.actor_kind, e.reason)


def record_transition(
    conn: psycopg.Connection[Any],
    request_id: int,
    before: Status | None,
    after: Status,
    actor: Actor,
    at: datetime,
    reason: str | None = None,
) -> None:
    """The history row and the audit record of one transition (in the caller's transaction)."""
    repo.add_event(
        conn, request_id, at=at, from_status=before, to_status=after, actor_kind=actor.kind, actor=actor.account_id,
        reason=reason,
    )  # fmt: skip
    audit.event(
        conn,
        f"person_request.{after.value}",
        "ok",
        at=at,
        actor_kind=actor.kind,
        actor=actor.account_id,
        target_type="person_request",
        target_id=str(request_id),
        purpose=AUDIT_PURPOSE,
        client_id=actor.client_id,
        channel=actor.channel,
    )


# Confirmations -------------------------------------------------------------------------------------


def _me(subject: Subject) -> int:
    if subject.kind is not SubjectKind.PERSON or subject.person_id is None:
        raise NotFound()
    return subject.person_id


def _key(idempotency_key: str) -> str:
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationFailed("办理请求编号不正确，请刷新页面后重试")
    return key


def _mobile(phone: str) -> str:
    number = phone.strip()
    if not core_lookup.is_mobile(number):
        raise ValidationFailed("请输入正确的11位手机号码")
    return number


ADDRESS_MAX = 100  # characters (the core's ac01.address is varchar(100))
# Control characters, format characters (bidi overrides, zero-width), surrogates and line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _field(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": name, "message": message}])


def contact_address(address: str | None) -> str | None:
    """通讯地址 as stored: NFKC-normalised (full-width digits and letters as half-width, the form the sealed
    read model keeps, so what the person typed comes back unchanged), trimmed, at most ``ADDRESS_MAX``
    characters (a rare character such as 𠮷 is one); empty means not given. Control characters are refused."""
    if address is None:
        return None
    text = unicodedata.normalize("NFKC", address).strip()
    if not text:
        return None
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text):
        raise _field("address", "通讯地址不能含有换行、制表符等控制字符")
    if len(text) > ADDRESS_MAX:
        raise _field("address", f"通讯地址不能超过{ADDRESS_MAX}个字")
    return text


def postal_code(code: str | None) -> str | None:
    """邮政编码: DOMAIN.md is silent, so the rule is six digits (a leading 0 is valid: 010000 is 呼和浩特);
    empty means not given."""
    if code is None or not code.strip():
        return None
    text = code.strip()
    if not (len(text) == 6 and text.isascii() and text.isdigit()):
        raise _field("postal_code", "邮政编码应为6位数字")
    return text


def contact_payload(phone: str, address: str | None = None, postal: str | None = None) -> dict[str, Any]:
    """The request's content: the number, and the address and postal code only when given (so a request made
    before they existed compares equal to the same request now)."""
    payload: dict[str, Any] = {"phone": _mobile(phone)}
    checked_address, checked_postal = contact_address(address), postal_code(postal)
    if checked_address is not None:
        payload["address"] = checked_address
    if checked_postal is not None:
        payload["postal_code"] = checked_postal
    return payload


def phone_binding(person_id: int, phone: str, *extra: str) -> str:
    """What a code to a new number is bound to: the person, the number and (at a counter) the staff member."""
    return ":".join((str(person_id), phone, *extra))


def send_new_phone_code(
    conn: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    *,
    purpose: Purpose,
    binding: str,
    phone: str,
    ip: str,
    now: datetime,
) -> codes.SentCode:
    """An SMS code to the NEW number (throttled like every code). Never commits."""
    try:
        return codes.send_code(conn, r, cfg.codes, purpose=purpose.value, binding=binding, phone=phone, ip=ip, now=now)
    except IdentityError as exc:
        raise Refused(exc) from None


def send_contact_code(
    conn: psycopg.Connection[Any], r: redis.Redis, cfg: IdentityConfig, subject: Subject, *, phone: str, ip: str,
    now: datetime,
) -> codes.SentCode:  # fmt: skip
    """联系方式变更, step 1: a code to the new mobile number for the person logged in."""
    person_id = _me(subject)
    number = _mobile(phone)
    return send_new_phone_code(
        conn, r, cfg, purpose=Purpose.CONTACT, binding=phone_binding(person_id, number), phone=number, ip=ip, now=now
    )


def send_card_code(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    subject: Subject,
    *,
    ip: str,
    now: datetime,
) -> codes.SentCode:
    """挂失 / 解挂 confirmation by SMS: a code to the phone the core holds for the person."""
    person_id = _me(subject)
    person = core_lookup.get_person(core, person_id)
    if person is None or not core_lookup.is_mobile(person.phone):
        raise Refused(NoPhoneOnRecord())
    assert person.phone is not None
    try:
        return codes.send_code(
            conn, r, cfg.codes, purpose=Purpose.CARD.value, binding=str(person_id), phone=person.phone, ip=ip, now=now
        )
    except IdentityError as exc:
        raise Refused(exc) from None


def check_code(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    purpose: Purpose,
    ticket: str,
    code: str,
    now: datetime,
    binding: str | None = None,
) -> codes.Challenge:
    """Consume the code; a wrong, expired or foreign code commits its check count and raises ``Refused``."""
    if not _ticket_shape(ticket):
        raise Refused(InvalidCode())
    try:
        challenge = codes.check_code(conn, cfg.codes, ticket=ticket, purpose=purpose.value, code=code, now=now)
        if binding is not None and challenge.binding != binding:
            raise InvalidCode()
    except IdentityError as exc:
        conn.commit()  # the check count stays, nothing else was written
        raise Refused(exc) from None
    return challenge


def _ticket_shape(ticket: str) -> bool:
    """A ticket as ``codes`` makes them (URL-safe base64), so nothing else reaches the database."""
    return 0 < len(ticket) <= 100 and all(c.isascii() and (c.isalnum() or c in "-_") for c in ticket)


def _check_password(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, subject: Subject, password: str, source: str, now: datetime
) -> None:
    """The login password again; a failure counts towards the login lockout, is audited and committed."""
    account = accounts.get(conn, subject.account_id)
    if account is None or account.person_id != subject.person_id:
        verify_password(DUMMY_HASH, password)
        raise NotFound()
    locked = lockout.is_locked(conn, cfg.lockout, account.id, source, now)
    if not locked and verify_password(account.password_hash, password):
        return
    audit.event(
        conn, "person_request.password_check", "locked" if locked else "failed", at=now, actor_kind="person",
        actor=account.id, target_id=account.id, purpose=AUDIT_PURPOSE, ip=source,
        client_id=subject.client_id, channel=subject.channel.value,
    )  # fmt: skip
    lockout.record_failure(conn, cfg.lockout, account.id, source, now)
    conn.commit()
    raise Refused(InvalidCredentials("登录密码不正确"))


# Submitting ----------------------------------------------------------------------------------------


def _existing(
    conn: psycopg.Connection[Any], person_id: int, key: str, kind: RequestType, payload: dict[str, Any]
) -> PersonRequest | None:
    row = repo.fetch_by_key(conn, person_id, key)
    if row is None:
        return None
    if row.type != kind.value or dict(row.payload) != payload:
        raise Conflict("该办理请求编号已用于其他内容，请刷新页面后重新填写")
    return _request(row)


def submit(
    conn: psycopg.Connection[Any],
    actor: Actor,
    person_id: int,
    kind: RequestType,
    payload: dict[str, Any],
    idempotency_key: str,
    *,
    now: datetime,
    evidence: dict[str, Any] | None = None,
) -> PersonRequest:
    """Store a submitted request (idempotent by the person's key) with its history and audit record."""
    key = _key(idempotency_key)
    found = _existing(conn, person_id, key, kind, payload)
    if found is not None:
        return found
    new_id = repo.insert(
        conn, person_id=person_id, type_=kind.value, payload=payload, key=key, channel=actor.channel,
        actor_kind=actor.kind, actor=actor.account_id, evidence=evidence or {}, at=now,
    )  # fmt: skip
    if new_id is None:  # a concurrent twin committed first
        twin = _existing(conn, person_id, key, kind, payload)
        assert twin is not None
        return twin
    record_transition(conn, new_id, None, Status.SUBMITTED, actor, now)
    row = repo.fetch(conn, new_id)
    assert row is not None
    log.info("person request %s submitted (%s)", row.reference, kind.value)
    return _request(row)


def change_contact(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    subject: Subject,
    *,
    phone: str,
    ticket: str,
    code: str,
    password: str,
    idempotency_key: str,
    source: str,
    now: datetime,
    address: str | None = None,
    postal: str | None = None,
) -> PersonRequest:
    """联系方式变更: the new mobile number, confirmed by the code sent to it and the login password, with an
    optional 通讯地址 and 邮政编码. Every field is checked before the code or the password is."""
    person_id = _me(subject)
    payload = contact_payload(phone, address, postal)
    number = str(payload["phone"])
    found = _existing(conn, person_id, _key(idempotency_key), RequestType.CONTACT_CHANGE, payload)
    if found is not None:
        return found  # a resubmission: the code was used by the first one
    _check_password(conn, cfg, subject, password, source, now)
    check_code(
        conn, cfg, purpose=Purpose.CONTACT, ticket=ticket, code=code, now=now, binding=phone_binding(person_id, number)
    )
    return submit(conn, Actor.of(subject), person_id, RequestType.CONTACT_CHANGE, payload, idempotency_key, now=now)


def report_card(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    subject: Subject,
    kind: RequestType,
    *,
    idempotency_key: str,
    source: str,
    now: datetime,
    password: str | None = None,
    ticket: str | None = None,
    code: str | None = None,
) -> PersonRequest:
    """社保卡挂失 (``CARD_LOSS``) or 解挂 (``CARD_UNLOSS``), confirmed by the login password or an SMS code."""
    if kind not in (RequestType.CARD_LOSS, RequestType.CARD_UNLOSS):
        raise ValidationFailed("不支持的办理事项")
    person_id = _me(subject)
    found = _existing(conn, person_id, _key(idempotency_key), kind, {})
    if found is not None:
        return found
    if ticket and code:
        check_code(conn, cfg, purpose=Purpose.CARD, ticket=ticket, code=code, now=now, binding=str(person_id))
    elif password:
        _check_password(conn, cfg, subject, password, source, now)
    else:
        raise ValidationFailed("请输入登录密码或短信验证码")
    return submit(conn, Actor.of(subject), person_id, kind, {}, idempotency_key, now=now)


def recover_phone(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    actor: Actor,
    *,
    purpose: Purpose,
    by: str,
    ticket: str,
    code: str,
    idempotency_key: str,
    now: datetime,
    person_id: int | None = None,
) -> PersonRequest:
    """手机号码找回 at a counter or kiosk, step 2: the code sent to the new number names the person, the number,
    who identified the person (``by``: the staff account or the kiosk) and how; a code bound to anyone else
    (another counter, another kiosk, another session's person) is refused. The request records how the
    person was identified."""
    used = repo.used_code_binding(conn, ticket, purpose.value) if _ticket_shape(ticket) else None
    if used is not None and len(used.split(":")) == 4 and used.split(":")[2] == by:
        bound, phone = used.split(":")[:2]
        found = _existing(conn, int(bound), _key(idempotency_key), RequestType.PHONE_RECOVERY, {"phone": phone})
        if found is not None:
            return found  # a resubmission: the code was used by the first one
    challenge = check_code(conn, cfg, purpose=purpose, ticket=ticket, code=code, now=now)
    parts = challenge.binding.split(":")
    if (
        len(parts) != 4
        or parts[2] != by
        or parts[3] not in {c.value for c in IdentityCheck}
        or (person_id is not None and parts[0] != str(person_id))
    ):
        conn.commit()
        raise Refused(InvalidCode())
    bound_person, phone, _, check = parts
    return submit(
        conn, actor, int(bound_person), RequestType.PHONE_RECOVERY, {"phone": phone}, idempotency_key, now=now,
        evidence={"check": check, "by": by},
    )  # fmt: skip


# Reading -------------------------------------------------------------------------------------------


def list_mine(conn: psycopg.Connection[Any], subject: Subject, limit: int = 100) -> list[PersonRequest]:
    """The person's own requests, newest first (办理进度)."""
    return [_request(r) for r in repo.list_for_person(conn, _me(subject), limit)]


def get_mine(conn: psycopg.Connection[Any], subject: Subject, request_id: int) -> tuple[PersonRequest, list[Event]]:
    """One of the person's requests with its history; another person's answers like a missing one."""
    person_id = _me(subject)
    row = repo.fetch(conn, request_id) if 0 < request_id < 2**63 else None
    if row is None or row.person_id != person_id:
        raise NotFound()
    return _request(row), [_event(e) for e in repo.events(conn, request_id)]


def login_phone(conn: psycopg.Connection[Any], subject: Subject) -> str | None:
    """The person's login phone (where codes and notices go), followed after the core applied a change."""
    account = accounts.get(conn, subject.account_id)
    return account.phone if account is not None and account.person_id == _me(subject) else None


def pending_phone(conn: psycopg.Connection[Any], person_id: int) -> str | None:
    """A new number the person asked for that the core has not applied yet (masked), if any."""
    for r in repo.list_for_person(conn, person_id, 20):
        if r.type in PHONE_TYPES and r.status in (Status.SUBMITTED, Status.SENT):
            return mask_phone(str(r.payload.get("phone", "")))
    return None


# Phone recovery: identifying the person without the lost phone --------------------------------------


class IdentityCheck(StrEnum):
    """How the person was identified for a phone recovery (recorded with the request and in the audit)."""

    HALL_ID_CARD_READER = "hall_id_card_reader"  # the counter's ID-card reader, the holder compared by staff
    HALL_ID_CARD_VISUAL = "hall_id_card_visual"  # the ID card inspected by staff
    KIOSK_CARD_PIN = "kiosk_card_pin"  # 社会保障卡 in the kiosk's reader + the query PIN
    KIOSK_ID_CARD_FACE = "kiosk_id_card_face"  # the ID card read by the kiosk + its face check


class PersonNotFound(IdentityError):
    """Unknown ID number, or (at a counter) a person outside the staff member's 统筹区: the same answer."""

    type = "person-not-found"
    title = "未找到该参保人"
    status = 404


def _identity_event(
    conn: psycopg.Connection[Any], actor: Actor, check: IdentityCheck, result: str, person_id: int | None, now: datetime
) -> None:
    audit.event(
        conn, "person_request.recovery_identity", result, at=now, actor_kind=actor.kind, actor=actor.account_id,
        target_type="person", target_id=str(person_id) if person_id is not None else "",
        purpose=f"{AUDIT_PURPOSE}:{check.value}", client_id=actor.client_id, channel=actor.channel,
    )  # fmt: skip


def _person_by_document(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    actor: Actor,
    check: IdentityCheck,
    document_type: str,
    document_number: str,
    regions: frozenset[str] | None,
    now: datetime,
) -> int:
    """The person behind an ID number (within ``regions`` when given); a miss is audited and committed."""
    try:
        compact: str | None = documents.normalize(document_type, document_number)
    except IdentityError:
        compact = None
    found = core_lookup.find_person(core, document_type, compact) if compact else None
    if found is None or (regions is not None and found.region_code not in regions):
        _identity_event(conn, actor, check, "not_found", None, now)
        conn.commit()
        raise Refused(PersonNotFound())
    return found.person_id


def start_hall_recovery(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    staff: Subject,
    *,
    document_type: str,
    document_number: str,
    check: IdentityCheck,
    phone: str,
    ip: str,
    now: datetime,
) -> codes.SentCode:
    """At a counter: the staff member has checked the person's ID card (``check``); a code goes to the new
    number, bound to the person, the number and this staff member. Never commits (except a miss)."""
    if staff.kind is not SubjectKind.STAFF or not staff.roles & DATA_ROLES:
        raise NotFound()
    if check not in (IdentityCheck.HALL_ID_CARD_READER, IdentityCheck.HALL_ID_CARD_VISUAL):
        raise ValidationFailed("请选择核验身份证件的方式")
    number = _mobile(phone)
    actor = Actor.of(staff)
    person_id = _person_by_document(conn, core, actor, check, document_type, document_number, staff.region_codes, now)
    _identity_event(conn, actor, check, "ok", person_id, now)
    return send_new_phone_code(
        conn, r, cfg, purpose=Purpose.RECOVERY_HALL, binding=phone_binding(person_id, number, staff.account_id, check),
        phone=number, ip=ip, now=now,
    )  # fmt: skip


def start_kiosk_recovery(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any] | None,
    r: redis.Redis,
    cfg: IdentityConfig,
    kiosk: Subject,
    *,
    check: IdentityCheck,
    phone: str,
    ip: str,
    now: datetime,
    person_id: int | None = None,
    document_type: str = "",
    document_number: str = "",
) -> codes.SentCode:
    """At a kiosk: the person of a card + PIN session (``person_id``), or the ID card the kiosk read after
    its face check passed (the caller ran the check); a code goes to the new number, bound to the person,
    the number, the kiosk and the way the person was identified."""
    number = _mobile(phone)
    actor = Actor(SubjectKind.CLIENT.value, kiosk.client_id, kiosk.client_id, kiosk.channel.value)
    if check is IdentityCheck.KIOSK_ID_CARD_FACE:
        assert core is not None
        person_id = _person_by_document(conn, core, actor, check, document_type, document_number, None, now)
    elif check is not IdentityCheck.KIOSK_CARD_PIN or person_id is None:
        raise ValidationFailed("请插入社会保障卡并输入查询密码，或在本机读取身份证并完成人脸核验")
    _identity_event(conn, actor, check, "ok", person_id, now)
    return send_new_phone_code(
        conn, r, cfg, purpose=Purpose.RECOVERY_KIOSK, binding=phone_binding(person_id, number, kiosk.client_id, check),
        phone=number, ip=ip, now=now,
    )  # fmt: skip
