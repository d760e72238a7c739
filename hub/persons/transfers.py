"""养老保险关系转移接续 — a person's application to transfer the pension relation in or out, and the
agency's handling of it.

Fields (DOMAIN.md names the service, §4.1, but no form; these are what the 联系函 of the transfer needs):
the direction (转入 to this 统筹区, or 转出 from it), the other side's 统筹区 (GB/T 2260 code and name),
its scheme (机关事业单位养老保险 120 or 企业职工基本养老保险 110, DOMAIN.md §2.3), its 经办机构, the
reason, and a contact phone.

States: 已申请 (applied) → 受理 (accepted) → 联系函已发 / 已接收 (letter: for a transfer in this agency
sends the 联系函, for a transfer out it receives it) → 转移中 (transferring) → 已完成 (completed); only an
application not yet accepted may end 不予受理 (refused, with a reason). Every change adds a dated event; the
person follows them. Staff handle only the applications of their 统筹区; anything else answers like a
missing record. Functions never commit.
"""

from __future__ import annotations

import re
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
from hub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.persons import person_services_repository as repo
from hub.persons.eligibility import local_day
from hub.push.service import Notice, notify

AUDIT_PURPOSE = "transfer"
BUSINESS = "养老保险关系转移接续"


class TransferStatus(StrEnum):
    APPLIED = "applied"
    ACCEPTED = "accepted"
    LETTER = "letter"
    TRANSFERRING = "transferring"
    COMPLETED = "completed"
    REFUSED = "refused"


NEXT: dict[TransferStatus, frozenset[TransferStatus]] = {
    TransferStatus.APPLIED: frozenset({TransferStatus.ACCEPTED, TransferStatus.REFUSED}),
    TransferStatus.ACCEPTED: frozenset({TransferStatus.LETTER}),
    TransferStatus.LETTER: frozenset({TransferStatus.TRANSFERRING}),
    TransferStatus.TRANSFERRING: frozenset({TransferStatus.COMPLETED}),
    TransferStatus.COMPLETED: frozenset(),
    TransferStatus.REFUSED: frozenset(),
}
SCHEMES = {"120": "机关事业单位养老保险", "110": "企业职工基本养老保险"}
DIRECTIONS = {"in": "转入", "out": "转出"}
_REGION = re.compile(r"^[1-8]\d{5}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def status_label(status: str, direction: str) -> str:
    if status == TransferStatus.LETTER:
        return "联系函已发" if direction == "in" else "联系函已接收"
    return {
        "applied": "已申请",
        "accepted": "受理",
        "transferring": "转移中",
        "completed": "已完成",
        "refused": "不予受理",
    }[status]


def allowed(current: TransferStatus, target: TransferStatus) -> bool:
    """Whether the state machine lets ``current`` move to ``target``. Pure."""
    return target in NEXT[current]


class IllegalTransition(Conflict):
    title = "办理状态不允许此操作"
    default_detail = "该申请当前的办理状态不允许此操作，请刷新页面后查看"


@dataclass(frozen=True)
class TransferForm:
    direction: str
    other_region_code: str
    other_region_name: str
    other_scheme: str
    other_agency: str
    reason: str
    contact_phone: str


def check_form(form: TransferForm) -> dict[str, str]:
    """Field errors (Chinese) of an application; empty when it may be submitted."""
    errors: dict[str, str] = {}
    if form.direction not in DIRECTIONS:
        errors["direction"] = "请选择转入或转出"
    if not _REGION.match(form.other_region_code.strip()):
        errors["other_region_code"] = "请填写6位行政区划代码，例如 430100"
    name = form.other_region_name.strip()
    if not 2 <= len(name) <= 40:
        errors["other_region_name"] = "请填写对方参保地名称（2至40个字）"
    if form.other_scheme not in SCHEMES:
        errors["other_scheme"] = "请选择对方的养老保险类型"
    if not 2 <= len(form.other_agency.strip()) <= 60:
        errors["other_agency"] = "请填写对方社会保险经办机构名称（2至60个字）"
    if not 2 <= len(form.reason.strip()) <= 200:
        errors["reason"] = "请填写转移原因（2至200个字）"
    if not _MOBILE.match(form.contact_phone.strip()):
        errors["contact_phone"] = "请填写11位手机号码"
    return errors


def _person(subject: Subject) -> int:
    if subject.kind is not SubjectKind.PERSON or subject.person_id is None:
        raise Forbidden()
    return subject.person_id


def apply(
    hub: psycopg.Connection[Any], store: psycopg.Connection[Any], subject: Subject, form: TransferForm, now: datetime
) -> dict[str, Any]:
    """The person's own application (状态 已申请). Raises ValidationFailed with field errors. Never commits."""
    person_id = _person(subject)
    errors = check_form(form)
    if errors:
        raise ValidationFailed("申请信息不完整或不正确", errors=[{"field": k, "message": v} for k, v in errors.items()])
    facts = repo.person_facts(store, person_id)
    if facts is None:
        raise NotFound()
    if form.other_region_code.strip() == facts.region_code and form.other_scheme == "120":
        raise ValidationFailed("对方参保地和险种与本统筹区相同，无需办理转移")
    reference = f"ZY{local_day(now):%Y%m%d}{secrets.token_hex(4).upper()}"
    transfer_id = repo.insert_transfer(
        hub,
        reference=reference,
        person_id=person_id,
        region_code=facts.region_code,
        direction=form.direction,
        other_region_code=form.other_region_code.strip(),
        other_region_name=form.other_region_name.strip(),
        other_scheme=form.other_scheme,
        other_agency=form.other_agency.strip(),
        reason=form.reason.strip(),
        contact_phone=form.contact_phone.strip(),
        status=TransferStatus.APPLIED.value,
        created_at=now,
        updated_at=now,
    )
    repo.add_transfer_event(hub, transfer_id, TransferStatus.APPLIED, None, "person", subject.account_id, now)
    audit.event(hub, "transfer.apply", "ok", at=now, actor_kind="person", actor=subject.account_id,
                target_type="transfer", target_id=str(transfer_id), purpose=AUDIT_PURPOSE,
                client_id=subject.client_id, channel=subject.channel.value)  # fmt: skip
    found = repo.transfer(hub, transfer_id)
    assert found is not None
    return found


def list_own(hub: psycopg.Connection[Any], subject: Subject) -> list[dict[str, Any]]:
    return repo.transfers_of_person(hub, _person(subject))


def get_own(
    hub: psycopg.Connection[Any], subject: Subject, transfer_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The person's own application and its history; someone else's answers exactly like a missing one."""
    found = repo.transfer(hub, transfer_id)
    if found is None or found["person_id"] != _person(subject):
        raise NotFound()
    return found, repo.transfer_events(hub, transfer_id)


def _staff(subject: Subject) -> None:
    if subject.kind is not SubjectKind.STAFF or not subject.roles & DATA_ROLES:
        raise Forbidden()


def list_for_staff(hub: psycopg.Connection[Any], staff: Subject, *, open_only: bool = True) -> list[dict[str, Any]]:
    _staff(staff)
    return repo.transfers_of_regions(hub, sorted(staff.region_codes), open_only)


def get_for_staff(
    hub: psycopg.Connection[Any], staff: Subject, transfer_id: int, *, for_update: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _staff(staff)
    found = repo.transfer(hub, transfer_id, for_update=for_update)
    if found is None or found["region_code"] not in staff.region_codes:
        raise NotFound()
    return found, repo.transfer_events(hub, transfer_id)


def advance(
    hub: psycopg.Connection[Any],
    staff: Subject,
    transfer_id: int,
    target: str,
    *,
    note: str = "",
    now: datetime,
    phone: str | None = None,
    push: PushSettings | None = None,
) -> dict[str, Any]:
    """Staff move an application to ``target``; a refusal needs its reason. Raises NotFound,
    IllegalTransition, ValidationFailed. On 已完成 / 不予受理 the person gets a push notice. Never commits."""
    found, _ = get_for_staff(hub, staff, transfer_id, for_update=True)
    try:
        wanted = TransferStatus(target)
    except ValueError:
        raise ValidationFailed("办理状态不正确") from None
    if not allowed(TransferStatus(found["status"]), wanted):
        audit.event(hub, "transfer.advance", "refused", at=now, actor_kind="staff", actor=staff.account_id,
                    target_type="transfer", target_id=str(transfer_id), purpose=AUDIT_PURPOSE,
                    client_id=staff.client_id, channel=staff.channel.value)  # fmt: skip
        raise IllegalTransition()
    text = note.strip()
    if len(text) > 200:
        raise ValidationFailed("说明不能超过200个字")
    if wanted is TransferStatus.REFUSED and not text:
        raise ValidationFailed("不予受理时请填写原因")
    repo.set_transfer_status(hub, transfer_id, wanted, text if wanted is TransferStatus.REFUSED else None, now)
    repo.add_transfer_event(hub, transfer_id, wanted, text or None, "staff", staff.account_id, now)
    audit.event(hub, f"transfer.{wanted.value}", "ok", at=now, actor_kind="staff", actor=staff.account_id,
                target_type="transfer", target_id=str(transfer_id), purpose=AUDIT_PURPOSE,
                client_id=staff.client_id, channel=staff.channel.value)  # fmt: skip
    if push is not None and wanted in (TransferStatus.COMPLETED, TransferStatus.REFUSED):
        result = "已完成" if wanted is TransferStatus.COMPLETED else f"不予受理（{text}）"
        notify(
            hub,
            Notice(
                source_key=f"transfer:{transfer_id}:{wanted.value}",
                person_id=int(found["person_id"]),
                kind=MessageKind.BUSINESS,
                title=f"{BUSINESS}办理结果",
                body=f"您的{BUSINESS}申请（受理号{found['reference']}）{result}。",
                sms_template="business_done",
                personalisation={
                    "business": BUSINESS,
                    "reference": str(found["reference"]),
                    "result": "已完成" if wanted is TransferStatus.COMPLETED else "不予受理",
                },
                link=f"/portal/me/transfers/{transfer_id}",
            ),
            phone=phone,
            now=now,
            settings=push,
        )
    updated = repo.transfer(hub, transfer_id)
    assert updated is not None
    return updated
