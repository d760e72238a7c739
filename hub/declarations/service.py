"""Declarations: what a unit operator and an agency reviewer can do, and the transitions they cause.

Every function works inside the caller's hub-DB transaction and never commits (the request, page or
worker commits once). Each transition is checked against the state machine (``states``), written to
the declaration's history (``hub.declaration_event``, shown to the unit) and to the audit chain in the
same transaction, so a transition and its records exist together or not at all. An approval also
writes the command for the core into the outbox (``hub.declaration_command``) in that transaction.

Permissions: unit operators act on their own unit's declarations; reviewers of the declaration's
统筹区 decide; a declaration the caller may not see raises the same ``NotFound`` as a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from hub.access.subject import Subject
from hub.audit import sync_writer as audit
from hub.crypto import payloads
from hub.declarations import access, deadlines, records, review
from hub.declarations import calendar as cal
from hub.declarations import types as t
from hub.declarations.records import Declaration, Event
from hub.declarations.states import ACTION_LABELS, Action, Status, check
from hub.errors import Conflict, NotFound, ValidationFailed

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_KEY = 100
SYSTEM_AUTO = "auto-approve-rule"


@dataclass(frozen=True)
class Actor:
    """Who caused a transition, as recorded: a caller, or the system (the outbox worker, a rule)."""

    kind: str
    account_id: str
    client_id: str = ""
    channel: str = ""

    @classmethod
    def of(cls, subject: Subject) -> Actor:
        return cls(subject.kind.value, subject.account_id, subject.client_id, subject.channel.value)


SYSTEM = Actor("system", "declarations")


def local_day(at: datetime) -> date:
    """The business day (Asia/Shanghai) of an instant."""
    return at.astimezone(SHANGHAI).date()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def transition(
    conn: psycopg.Connection[Any],
    decl: Declaration,
    action: Action,
    actor: Actor,
    *,
    at: datetime,
    why: str | None = None,
    **values: Any,
) -> Declaration:
    """Move ``decl`` (locked by the caller) by ``action``; record the history event and the audit record.

    ``why`` (a reason or note) goes into the history and, unless ``values`` set it, the row's ``reason``.
    """
    target = check(decl.status, action, claimed=decl.claimed_by is not None)
    if why is not None:
        values.setdefault("reason", why)
    updated = records.update(conn, decl.id, status=target.value, **values)
    _record(conn, decl.id, action, decl.status, target, actor, at, why)
    return updated


def _record(
    conn: psycopg.Connection[Any],
    declaration_id: int,
    action: Action,
    before: Status | None,
    after: Status,
    actor: Actor,
    at: datetime,
    reason: str | None,
) -> None:
    records.add_event(
        conn,
        declaration_id,
        at=at,
        action=action.value,
        from_status=before,
        to_status=after,
        actor_kind=actor.kind,
        actor=actor.account_id,
        reason=reason,
    )
    audit.event(
        conn,
        f"declaration.{action.value}",
        "ok",
        at=at,
        actor_kind=actor.kind,
        actor=actor.account_id,
        target_type="declaration",
        target_id=str(declaration_id),
        purpose="declaration",
        client_id=actor.client_id,
        channel=actor.channel,
    )


def _visible(conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, *, lock: bool) -> Declaration:
    decl = records.fetch(conn, declaration_id, lock=lock)
    if decl is None or not access.may_see(subject, decl.unit_id, decl.region_code):
        raise NotFound()
    return decl


def _unit_region(query: psycopg.Connection[Any], unit_id: int) -> str:
    row = query.execute("select region_code from unit_overview where unit_id = %s", (unit_id,)).fetchone()
    if row is None or row[0] is None:
        raise NotFound("单位信息不存在或尚未同步，请稍后再试")
    return str(row[0])


def key_of(idempotency_key: str) -> str:
    """The idempotency key, stripped; ``ValidationFailed`` when empty or longer than ``MAX_KEY``."""
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed("申报请求编号不正确")
    return key


# Unit operator -----------------------------------------------------------------------------------


def create(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    subject: Subject,
    type_: t.DeclarationType | str,
    payload: Any,
    idempotency_key: str,
    *,
    submit: bool = False,
    now: datetime | None = None,
) -> Declaration:
    """Save a draft (or, with ``submit``, submit at once) for the caller's unit; idempotent by key.

    The same ``idempotency_key`` again returns the declaration it created, whatever its state now, and
    creates nothing; the same key with a different type or content is refused (``Conflict``). Raises
    ``ValidationFailed`` (per-field Chinese errors) for an invalid payload, ``NotPermitted`` for anyone
    but a unit operator.
    """
    unit_id = access.require_unit_operator(subject)
    key = key_of(idempotency_key)
    try:
        kind = t.DeclarationType(type_)
    except ValueError:
        raise ValidationFailed("不支持的申报业务类型") from None
    body = t.canonical(kind, payload)
    at = _now(now)
    return save_once(
        conn, unit_id=unit_id, region=lambda: _unit_region(query, unit_id), kind=kind, body=body, key=key,
        actor=Actor.of(subject), at=at, then=lambda decl: _submit(conn, query, decl, subject, at) if submit else decl,
    )  # fmt: skip


def save_once(
    conn: psycopg.Connection[Any],
    *,
    unit_id: int,
    region: Callable[[], str],
    kind: t.DeclarationType,
    body: dict[str, Any],
    key: str,
    actor: Actor,
    at: datetime,
    then: Callable[[Declaration], Declaration],
) -> Declaration:
    """The declaration of ``key`` (checked by ``key_of``): the first time a new draft of ``body`` in the
    统筹区 ``region()``, passed on to ``then`` (submit it, or keep the draft); again with the same type and
    content, the declaration it created, whatever its state now; with another, ``Conflict``."""
    existing = records.fetch_by_key(conn, unit_id, key)
    if existing is None:
        new_id = records.insert(
            conn, unit_id=unit_id, region_code=region(), type_=kind, payload=body, key=key, created_by=actor.account_id,
            at=at,
        )  # fmt: skip
        if new_id is not None:
            decl = records.fetch(conn, new_id, lock=True)
            assert decl is not None
            _record(conn, decl.id, Action.SAVE, None, Status.DRAFT, actor, at, None)
            return then(decl)
        existing = records.fetch_by_key(conn, unit_id, key)  # a concurrent twin committed first
        assert existing is not None
    if existing.type is not kind or existing.payload != body:
        raise Conflict("该申报请求编号已用于其他内容，请刷新页面后重新填写")
    return existing


def update_draft(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    payload: Any,
    *,
    version: int | None = None,
    now: datetime | None = None,
) -> Declaration:
    """Change the content of a draft or of a declaration returned for correction.

    ``version`` (from the page the operator edited) refuses a lost update with ``Conflict``.
    """
    access.require_unit_operator(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    if version is not None and version != decl.version:
        raise Conflict()
    body = t.canonical(decl.type, payload)
    sealed = payloads.declaration_values(conn, decl.id, body)
    return transition(conn, decl, Action.SAVE, Actor.of(subject), at=_now(now), **sealed)


def submit(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    *,
    now: datetime | None = None,
) -> Declaration:
    """Submit a draft, or resubmit a corrected one; sets the 限时办结 deadline; may auto-approve."""
    access.require_unit_operator(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    return _submit(conn, query, decl, subject, _now(now))


def _submit(
    conn: psycopg.Connection[Any], query: psycopg.Connection[Any], decl: Declaration, subject: Subject, at: datetime
) -> Declaration:
    received = local_day(at)
    days = deadlines.working_days(conn, decl.type, received)
    due = cal.due_date(conn, received, days)
    decl = transition(
        conn,
        decl,
        Action.SUBMIT,
        Actor.of(subject),
        at=at,
        submitted_at=at,
        due_date=due,
        claimed_by=None,
        claimed_at=None,
        reason=None,
    )
    if auto_rule_enabled(conn, decl.type):
        assessment = review.assess(query, decl.type, decl.unit_id, decl.payload, received)
        if assessment.clean:
            decl = _approve(conn, decl, Actor("system", SYSTEM_AUTO), at, "符合自动审核规则")
    return decl


def withdraw(
    conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, *, now: datetime | None = None
) -> Declaration:
    """Withdraw a draft, or a submission no reviewer has claimed yet."""
    access.require_unit_operator(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    return transition(conn, decl, Action.WITHDRAW, Actor.of(subject), at=_now(now), finished_at=_now(now))


def get(conn: psycopg.Connection[Any], subject: Subject, declaration_id: int) -> Declaration:
    """One declaration the caller may see (unit operator: own unit; staff: own 统筹区)."""
    return _visible(conn, subject, declaration_id, lock=False)


def list_for_unit(
    conn: psycopg.Connection[Any],
    subject: Subject,
    *,
    status: Status | None = None,
    type_: t.DeclarationType | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Declaration]:
    """申报业务办件进度: the caller's unit's declarations, newest first (page with ``before_id``)."""
    unit_id = access.require_unit_operator(subject)
    return records.select(
        conn,
        "unit_id = %(u)s and (%(s)s::text is null or status = %(s)s) and (%(t)s::text is null or type = %(t)s) "
        "and (%(b)s::bigint is null or id < %(b)s)",
        {
            "u": unit_id,
            "s": status.value if status else None,
            "t": type_.value if type_ else None,
            "b": before_id,
        },
        order="id desc",
        limit=max(1, min(limit, 200)),
    )


def history(conn: psycopg.Connection[Any], subject: Subject, declaration_id: int) -> list[Event]:
    """Every transition of a declaration, oldest first. Staff accounts are shown to a unit as 经办机构."""
    _visible(conn, subject, declaration_id, lock=False)
    out = []
    for at, action, before, after, actor_kind, reason in records.events(conn, declaration_id):
        act = Action(action)
        out.append(
            Event(
                at=at,
                action=action,
                action_label=ACTION_LABELS[act],
                from_status=Status(before) if before else None,
                to_status=Status(after),
                actor_kind=actor_kind,
                actor_label=records.ACTOR_LABELS.get(actor_kind, "系统"),
                reason=reason,
            )
        )
    return out


# Agency reviewer ---------------------------------------------------------------------------------


def claim(
    conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, *, now: datetime | None = None
) -> Declaration:
    """Take an unclaimed submission into the caller's hands (reviewer of its 统筹区)."""
    access.require_reviewer(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    if decl.status is Status.SUBMITTED and decl.claimed_by not in (None, subject.account_id):
        raise Conflict("该申报已由其他审核人员认领")
    at = _now(now)
    return transition(conn, decl, Action.CLAIM, Actor.of(subject), at=at, claimed_by=subject.account_id, claimed_at=at)


def assign(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    reviewer_account_id: str,
    *,
    now: datetime | None = None,
) -> Declaration:
    """Hand a submission to a reviewer (by a reviewer of its 统筹区); replaces any claim."""
    access.require_reviewer(subject)
    if not reviewer_account_id.strip():
        raise ValidationFailed("请选择审核人员")
    decl = _visible(conn, subject, declaration_id, lock=True)
    at = _now(now)
    return transition(
        conn, decl, Action.ASSIGN, Actor.of(subject), at=at, claimed_by=reviewer_account_id, claimed_at=at
    )


def release(
    conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, *, now: datetime | None = None
) -> Declaration:
    """Put a submission the caller holds back in the queue."""
    access.require_reviewer(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    if decl.status is Status.SUBMITTED and decl.claimed_by != subject.account_id:
        raise Conflict("只能释放本人认领的申报")
    return transition(conn, decl, Action.RELEASE, Actor.of(subject), at=_now(now), claimed_by=None, claimed_at=None)


def _holding(decl: Declaration, subject: Subject) -> None:
    if decl.status is Status.SUBMITTED and decl.claimed_by != subject.account_id:
        raise Conflict("请先认领该申报再审核" if decl.claimed_by is None else "该申报已由其他审核人员认领")


def _approve(
    conn: psycopg.Connection[Any], decl: Declaration, actor: Actor, at: datetime, note: str | None
) -> Declaration:
    decl = transition(conn, decl, Action.APPROVE, actor, at=at, why=note, decided_by=actor.account_id, decided_at=at)
    command_id = uuid.uuid4()
    conn.execute(
        "insert into hub.declaration_command (command_id, declaration_id, type, unit_id, business_date, payload_enc) "
        "values (%s, %s, %s, %s, %s, %s)",
        (
            command_id,
            decl.id,
            decl.type.value,
            decl.unit_id,
            local_day(at),
            payloads.command_envelope(conn, command_id, decl.payload),
        ),
    )
    return decl


def approve(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> Declaration:
    """Approve a submission the caller holds; the command for the core goes into the outbox."""
    access.require_reviewer(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    _holding(decl, subject)
    return _approve(conn, decl, Actor.of(subject), _now(now), note)


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationFailed("请填写原因")
    if len(text) > 500:
        raise ValidationFailed("原因不能超过500字")
    return text


def _decide(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    reason: str,
    action: Action,
    now: datetime | None,
) -> Declaration:
    """A reviewer's decision with a reason the unit sees, on a submission the reviewer holds: a rejection
    finishes it, a return hands it back to the unit (and out of the reviewer's hands)."""
    access.require_reviewer(subject)
    text = _reason(reason)
    decl = _visible(conn, subject, declaration_id, lock=True)
    _holding(decl, subject)
    at = _now(now)
    changes: dict[str, Any] = (
        {"finished_at": at} if action is Action.REJECT else {"claimed_by": None, "claimed_at": None}
    )
    return transition(
        conn, decl, action, Actor.of(subject), at=at, why=text, decided_by=subject.account_id, decided_at=at, **changes
    )


def reject(
    conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, reason: str, *, now: datetime | None = None
) -> Declaration:
    """不予受理, with a reason the unit sees."""
    return _decide(conn, subject, declaration_id, reason, Action.REJECT, now)


def return_for_correction(
    conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, reason: str, *, now: datetime | None = None
) -> Declaration:
    """退回修改: the unit corrects the content and submits again."""
    return _decide(conn, subject, declaration_id, reason, Action.RETURN, now)


@dataclass(frozen=True)
class BulkResult:
    approved: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # id → why it was left for a one-by-one review


def bulk_approve(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    subject: Subject,
    declaration_ids: list[int],
    *,
    now: datetime | None = None,
) -> BulkResult:
    """Approve every clean submission of the list that is unclaimed or held by the caller.

    A declaration with a review flag, held by someone else, in another state or not visible is skipped
    with the reason; the others are approved in this transaction.
    """
    access.require_reviewer(subject)
    at = _now(now)
    result = BulkResult()
    for declaration_id in sorted(set(declaration_ids)):
        decl = records.fetch(conn, declaration_id, lock=True)
        if decl is None or not access.may_see(subject, decl.unit_id, decl.region_code):
            result.skipped[declaration_id] = "申报不存在或无权办理"
            continue
        if decl.status is not Status.SUBMITTED:
            result.skipped[declaration_id] = f"当前状态为“{decl.status.label}”"
            continue
        if decl.claimed_by not in (None, subject.account_id):
            result.skipped[declaration_id] = "已由其他审核人员认领"
            continue
        assessment = review.assess(query, decl.type, decl.unit_id, decl.payload, local_day(at))
        if not assessment.clean:
            result.skipped[declaration_id] = "；".join(assessment.flags)
            continue
        if decl.claimed_by is None:
            decl = transition(
                conn, decl, Action.CLAIM, Actor.of(subject), at=at, claimed_by=subject.account_id, claimed_at=at
            )
        _approve(conn, decl, Actor.of(subject), at, "批量审核通过")
        result.approved.append(declaration_id)
    return result


# Auto-approve rules --------------------------------------------------------------------------------


def auto_rule_enabled(conn: psycopg.Connection[Any], type_: t.DeclarationType) -> bool:
    row = conn.execute("select enabled from hub.declaration_auto_rule where type = %s", (type_.value,)).fetchone()
    return bool(row and row[0])


def set_auto_rule(
    conn: psycopg.Connection[Any], subject: Subject, type_: t.DeclarationType, *, enabled: bool, note: str
) -> None:
    """Let clean declarations of ``type_`` be approved on submission (system administrator)."""
    access.require_admin(subject)
    if not note.strip():
        raise ValidationFailed("请填写规则说明")
    conn.execute(
        "insert into hub.declaration_auto_rule (type, enabled, note, updated_by) values (%s, %s, %s, %s) "
        "on conflict (type) do update set enabled = excluded.enabled, note = excluded.note, "
        "updated_by = excluded.updated_by, updated_at = now()",
        (type_.value, enabled, note.strip(), subject.account_id),
    )
    audit.event(
        conn,
        "declaration.auto_rule.set",
        "ok",
        at=datetime.now(UTC),
        actor_kind=subject.kind.value,
        actor=subject.account_id,
        target_type="declaration_type",
        target_id=type_.value,
        purpose="declaration",
        client_id=subject.client_id,
        channel=subject.channel.value,
    )
