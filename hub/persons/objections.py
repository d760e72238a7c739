"""权益记录核查 — a person objects to one record of their contributions or account, with evidence, and
follows the agency's answer.

人社部令第14号 (DOMAIN.md §4.3): the insured files a written 核查 request with evidence; the agency checks
and corrects a wrong record. The object is one contribution month of one 险种 (year, month, AAE140) or one
account year (BASIC / ANNUITY), and must exist in the person's own record. Evidence files are optional, at
most ``MAX_FILES`` of at most ``MAX_FILE_BYTES`` each, PDF, JPEG or PNG judged by their content with the
declarations' checker (the name and the declared type are not trusted). A refused file refuses the whole
objection: nothing is written.

States: 已提交 (submitted) → 已受理 (accepted: the agency agrees and asks the core to correct) → 已更正
(corrected, once the core did) | 不予更正 (rejected, with the reason). The person gets a push notice on
the answer and on the correction. Staff see only objections of their 统筹区. Functions never commit.

已更正 is normally detected, not typed: at acceptance the objected record's fingerprint in the query store is
kept, and ``hub.persons.objection_feed`` closes the objection when the sync carries a change of that record
(``corrected_by = 'feed'``, with the change's position). Staff may still record it by hand (``'staff'``,
audited) — the fallback when the core corrected something the fingerprint does not cover, or before the
feed pass has run.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg

from hub.access.rules import DATA_ROLES
from hub.access.subject import Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.config.push import PushSettings
from hub.content.inbox import MessageKind
from hub.declarations import attachments
from hub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.persons import person_services_repository as repo
from hub.persons.eligibility import local_day
from hub.push.service import Notice, notify

AUDIT_PURPOSE = "objection"
BUSINESS = "个人权益记录核查"
MAX_FILES = 3
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_STATEMENT = 500
ACCOUNTS = {"BASIC": "基本养老保险个人账户", "ANNUITY": "职业年金个人账户"}


class ObjectionStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    CORRECTED = "corrected"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"submitted": "已提交，待核查", "accepted": "已受理，待更正", "corrected": "已更正",
                "rejected": "不予更正"}[self.value]  # fmt: skip


class BadEvidence(ValidationFailed):
    title = "证明材料不符合要求"


class IllegalAnswer(Conflict):
    title = "办理状态不允许此操作"
    default_detail = "该核查申请当前的状态不允许此操作，请刷新页面后查看"


@dataclass(frozen=True)
class Evidence:
    filename: str
    data: bytes


def check_evidence(files: list[Evidence]) -> list[tuple[str, str, bytes]]:
    """(display name, content type, data) of each file, or BadEvidence naming the first bad one.

    The type check is the declarations' (``hub.declarations.attachments.sniff``: magic bytes plus a
    structural check, active PDF content refused)."""
    files = [f for f in files if f.filename or f.data]
    if len(files) > MAX_FILES:
        raise BadEvidence(f"最多上传{MAX_FILES}个证明材料")
    out = []
    for f in files:
        shown = f.filename[-60:] or "未命名文件"
        if len(f.data) > MAX_FILE_BYTES:
            raise BadEvidence(f"文件“{shown}”超过{attachments.mb(MAX_FILE_BYTES)}")
        try:
            kind = attachments.sniff(f.data)
        except attachments.AttachmentRefused as exc:
            raise BadEvidence(f"文件“{shown}”：{exc.detail}") from None
        out.append((attachments.clean_name(f.filename, kind), kind, f.data))
    return out


@dataclass(frozen=True)
class ObjectionForm:
    target: str  # contribution | account
    year: int
    month: int | None
    insurance: str | None
    account: str | None
    statement: str


def _person(subject: Subject) -> int:
    if subject.kind is not SubjectKind.PERSON or subject.person_id is None:
        raise Forbidden()
    return subject.person_id


def submit(
    hub: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    subject: Subject,
    form: ObjectionForm,
    files: list[Evidence],
    now: datetime,
) -> dict[str, Any]:
    """The person's own objection. Everything is checked before anything is written. Never commits."""
    person_id = _person(subject)
    statement = form.statement.strip()
    if not 5 <= len(statement) <= MAX_STATEMENT:
        raise ValidationFailed(f"请说明记录哪里有误（5至{MAX_STATEMENT}个字）")
    if not 1990 <= form.year <= 2100:
        raise ValidationFailed("年度不正确")
    if form.target == "contribution":
        if form.month is None or not 1 <= form.month <= 12 or not form.insurance:
            raise ValidationFailed("请选择有异议的缴费月份和险种")
        if not repo.contribution_exists(store, person_id, form.year * 100 + form.month, form.insurance):
            raise ValidationFailed("未找到您该月份该险种的缴费记录")
        values: dict[str, Any] = {"month": form.month, "insurance": form.insurance}
    elif form.target == "account":
        if form.account not in ACCOUNTS:
            raise ValidationFailed("请选择有异议的账户")
        if not repo.account_year_exists(store, person_id, form.year, form.account):
            raise ValidationFailed("未找到您该年度的账户记录")
        values = {"account": form.account}
    else:
        raise ValidationFailed("请选择有异议的记录类型")
    checked = check_evidence(files)
    facts = repo.person_facts(store, person_id)
    if facts is None:
        raise NotFound()
    objection_id = repo.insert_objection(
        hub,
        reference=f"HC{local_day(now):%Y%m%d}{secrets.token_hex(4).upper()}",
        person_id=person_id,
        region_code=facts.region_code,
        target=form.target,
        year=form.year,
        statement=statement,
        status=ObjectionStatus.SUBMITTED.value,
        created_at=now,
        **values,
    )
    for name, kind, data in checked:
        repo.insert_objection_file(hub, objection_id, name, kind, data, hashlib.sha256(data).hexdigest())
    audit.event(hub, "objection.submit", "ok", at=now, actor_kind="person", actor=subject.account_id,
                target_type="objection", target_id=str(objection_id), purpose=AUDIT_PURPOSE,
                client_id=subject.client_id, channel=subject.channel.value)  # fmt: skip
    found = repo.objection(hub, objection_id)
    assert found is not None
    return found


def list_own(hub: psycopg.Connection[Any], subject: Subject) -> list[dict[str, Any]]:
    return repo.objections_of_person(hub, _person(subject))


def get_own(
    hub: psycopg.Connection[Any], subject: Subject, objection_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The person's own objection and its files; someone else's answers exactly like a missing one."""
    found = repo.objection(hub, objection_id)
    if found is None or found["person_id"] != _person(subject):
        raise NotFound()
    return found, repo.objection_files(hub, objection_id)


def _staff(subject: Subject) -> None:
    if subject.kind is not SubjectKind.STAFF or not subject.roles & DATA_ROLES:
        raise Forbidden()


def list_for_staff(hub: psycopg.Connection[Any], staff: Subject, *, open_only: bool = True) -> list[dict[str, Any]]:
    _staff(staff)
    return repo.objections_of_regions(hub, sorted(staff.region_codes), open_only)


def get_for_staff(
    hub: psycopg.Connection[Any], staff: Subject, objection_id: int, *, for_update: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _staff(staff)
    found = repo.objection(hub, objection_id, for_update=for_update)
    if found is None or found["region_code"] not in staff.region_codes:
        raise NotFound()
    return found, repo.objection_files(hub, objection_id)


def file_for_staff(
    hub: psycopg.Connection[Any], staff: Subject, objection_id: int, file_id: int, now: datetime
) -> dict[str, Any]:
    get_for_staff(hub, staff, objection_id)
    found = repo.objection_file(hub, objection_id, file_id)
    if found is None:
        raise NotFound()
    audit.event(hub, "objection.file", "ok", at=now, actor_kind="staff", actor=staff.account_id,
                target_type="objection", target_id=str(objection_id), purpose=AUDIT_PURPOSE,
                client_id=staff.client_id, channel=staff.channel.value)  # fmt: skip
    return found


_ALLOWED = {
    ObjectionStatus.SUBMITTED: frozenset({ObjectionStatus.ACCEPTED, ObjectionStatus.REJECTED}),
    ObjectionStatus.ACCEPTED: frozenset({ObjectionStatus.CORRECTED}),
    ObjectionStatus.CORRECTED: frozenset(),
    ObjectionStatus.REJECTED: frozenset(),
}


def answer(
    hub: psycopg.Connection[Any],
    staff: Subject,
    objection_id: int,
    target: str,
    text: str,
    *,
    now: datetime,
    phone: str | None = None,
    push: PushSettings | None = None,
    store: psycopg.Connection[Any] | None = None,
) -> dict[str, Any]:
    """Staff accept (the core will correct), reject (with a reason) or record the correction by hand. The
    person is notified through push. An acceptance with ``store`` (the query store) keeps the objected
    record's fingerprint, from which the feed pass detects the correction. Raises NotFound, IllegalAnswer,
    ValidationFailed. Never commits."""
    found, _ = get_for_staff(hub, staff, objection_id, for_update=True)
    try:
        wanted = ObjectionStatus(target)
    except ValueError:
        raise ValidationFailed("处理结果不正确") from None
    if wanted not in _ALLOWED[ObjectionStatus(found["status"])]:
        raise IllegalAnswer()
    reply = text.strip()
    if len(reply) > MAX_STATEMENT:
        raise ValidationFailed(f"答复不能超过{MAX_STATEMENT}个字")
    if wanted is ObjectionStatus.REJECTED and not reply:
        raise ValidationFailed("不予更正时请填写原因")
    digest = repo.record_digest(store, found) if wanted is ObjectionStatus.ACCEPTED and store is not None else None
    repo.answer_objection(hub, objection_id, wanted, reply or None, staff.account_id, now, record_digest=digest)
    audit.event(hub, f"objection.{wanted.value}", "ok", at=now, actor_kind="staff", actor=staff.account_id,
                target_type="objection", target_id=str(objection_id), purpose=AUDIT_PURPOSE,
                client_id=staff.client_id, channel=staff.channel.value)  # fmt: skip
    if push is not None:
        notify_answer(hub, found, wanted, reply, phone=phone, push=push, now=now)
    updated = repo.objection(hub, objection_id)
    assert updated is not None
    return updated


def notify_answer(
    hub: psycopg.Connection[Any],
    found: dict[str, Any],
    status: ObjectionStatus,
    reply: str,
    *,
    phone: str | None,
    push: PushSettings,
    now: datetime,
) -> None:
    """The push notice of an answer or of the correction: once per objection and state (its source key), so
    a correction seen by the feed and then recorded by hand, or seen twice, notifies once."""
    outcome = {"accepted": "已受理，经核实将予以更正", "corrected": "记录已更正", "rejected": "不予更正"}[status]
    objection_id = int(found["id"])
    notify(
        hub,
        Notice(
            source_key=f"objection:{objection_id}:{status.value}",
            person_id=int(found["person_id"]),
            kind=MessageKind.BUSINESS,
            title=f"{BUSINESS}答复",
            body=f"您提交的{BUSINESS}（受理号{found['reference']}）{outcome}。" + (f"答复：{reply}" if reply else ""),
            sms_template="business_done",
            personalisation={"business": BUSINESS, "reference": str(found["reference"]), "result": outcome},
            link=f"/portal/me/objections/{objection_id}",
        ),
        phone=phone,
        now=now,
        settings=push,
    )
