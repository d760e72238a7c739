"""待遇资格认证 — the yearly eligibility check of retirees: status, reminders and certifications.

The cycle is three dated parameters of the 统筹区 (``ya_param`` rows in the query store, looked up in force
on the day asked about). DOMAIN.md says only that 待遇资格认证 exists (§4.1) and that face images are
sensitive (§6.2); the values seeded are assumptions of common provincial practice, marked as such in
their source column (core/seed_data.py):

- ``CERT_VALID_MONTHS`` (12): a certification is valid this many months from its day;
- ``CERT_REMIND_DAYS`` (30): the reminder goes this many days before the validity ends;
- ``CERT_GRACE_DAYS`` (60): after the validity ends the person may still certify this many days before
  the payment is suspended (逾期).

A retiree never certified counts from the retirement date. The state on a day ``d`` (Asia/Shanghai), with
``due`` = anchor + valid months (the last day of the month when the day does not exist):
``d < due`` → 已认证 (valid until ``due`` − 1 day); ``due ≤ d < due + grace`` → 待认证; later → 逾期.

Certifications come from three channels, each audited with who did it: a hall counter (staff read the ID
card; ``certify_at_hall``), a kiosk card + PIN session (``certify_at_kiosk``) and a pluggable identity
check (``certify_with_check``: any ``IdentityCheck``; the hub ships no face service). Functions here never
commit: the caller commits once.
"""

from __future__ import annotations

import calendar
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg

from hub.access.rules import DATA_ROLES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.config.push import PushSettings
from hub.content.inbox import MessageKind
from hub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.identity import core_lookup, documents
from hub.identity.errors import IdentityError
from hub.persons import person_services_repository as repo
from hub.push.service import Notice, notify
from hub.rules.params import ParameterMissing, RegionParams

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
VALID_MONTHS, REMIND_DAYS, GRACE_DAYS = "CERT_VALID_MONTHS", "CERT_REMIND_DAYS", "CERT_GRACE_DAYS"
CODES = (VALID_MONTHS, REMIND_DAYS, GRACE_DAYS)
AUDIT_PURPOSE = "eligibility"
REMINDER_TEMPLATE = "eligibility_reminder"


class CertState(StrEnum):
    CERTIFIED = "certified"
    DUE = "due"
    OVERDUE = "overdue"

    @property
    def label(self) -> str:
        return {"certified": "已认证", "due": "待认证", "overdue": "逾期"}[self.value]


@dataclass(frozen=True)
class Cycle:
    valid_months: int
    remind_days: int
    grace_days: int


@dataclass(frozen=True)
class CertStatus:
    state: CertState
    anchor: date  # the last certification, or the retirement date
    certified: bool  # whether ``anchor`` is a certification (not the retirement date)
    due_on: date  # first day without a valid certification
    remind_from: date
    suspend_from: date  # first day of 逾期

    @property
    def valid_until(self) -> date:
        return self.due_on - timedelta(days=1)

    @property
    def last_day_before_suspension(self) -> date:
        return self.suspend_from - timedelta(days=1)


class NotARetiree(ValidationFailed):
    title = "无需认证"
    default_detail = "待遇资格认证仅适用于已领取养老待遇的退休人员"


class CycleMissing(Conflict):
    title = "认证参数未配置"
    default_detail = "本地区待遇资格认证参数尚未配置，请咨询12333"


class CheckFailed(ValidationFailed):
    title = "身份核验未通过"
    default_detail = "身份核验未通过，本次认证未记录。请重试或携身份证到经办大厅办理"


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, kept inside the month (2024-02-29 + 12 months → 2025-02-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def cycle_from(params: RegionParams, on: date) -> Cycle:
    """The cycle in force on ``on``; raises ``ParameterMissing`` when a row is absent."""
    values = [params.param(code, on) for code in CODES]
    try:
        months, remind, grace = (int(v) for v in values)
    except ValueError:
        raise ParameterMissing(f"region {params.region}: a certification parameter is not a whole number") from None
    if months <= 0 or remind < 0 or grace < 0:
        raise ParameterMissing(f"region {params.region}: certification parameters out of range")
    return Cycle(months, remind, grace)


def status_on(cycle: Cycle, anchor: date, today: date, *, certified: bool = True) -> CertStatus:
    """The state on ``today`` of a cycle that started on ``anchor``. Pure."""
    due = add_months(anchor, cycle.valid_months)
    suspend = due + timedelta(days=cycle.grace_days)
    if today < due:
        state = CertState.CERTIFIED
    elif today < suspend:
        state = CertState.DUE
    else:
        state = CertState.OVERDUE
    return CertStatus(state, anchor, certified, due, due - timedelta(days=cycle.remind_days), suspend)


def load_cycle(store: psycopg.Connection[Any], region: str, today: date) -> Cycle:
    try:
        return cycle_from(RegionParams(region, param_rows=repo.param_rows(store, region, CODES)), today)
    except ParameterMissing:
        raise CycleMissing() from None


def _retiree(store: psycopg.Connection[Any], person_id: int) -> repo.PersonFacts:
    facts = repo.person_facts(store, person_id)
    if facts is None:
        raise NotFound()
    if not facts.retired:
        raise NotARetiree()
    return facts


def _status(
    hub: psycopg.Connection[Any], store: psycopg.Connection[Any], facts: repo.PersonFacts, today: date
) -> CertStatus:
    cycle = load_cycle(store, facts.region_code, today)
    last = repo.last_certified_on(hub, facts.person_id)
    if last is not None:
        return status_on(cycle, last, today)
    # Never certified here: the retirement date starts the first cycle (today when it is unknown).
    return status_on(cycle, facts.retire_date or today, today, certified=False)


def status(hub: psycopg.Connection[Any], store: psycopg.Connection[Any], person_id: int, now: datetime) -> CertStatus:
    """A retiree's certification state now. Raises NotFound, NotARetiree, CycleMissing."""
    return _status(hub, store, _retiree(store, person_id), local_day(now))


def history(hub: psycopg.Connection[Any], person_id: int) -> list[dict[str, Any]]:
    return repo.certifications(hub, person_id)


CHANNEL_LABELS = {"hall": "经办大厅", "kiosk": "自助终端", "identity_check": "线上身份核验"}


def _record(
    hub: psycopg.Connection[Any],
    facts: repo.PersonFacts,
    now: datetime,
    *,
    channel: str,
    actor_kind: str,
    actor: str,
    client_id: str,
    audit_channel: str,
    reference: str | None = None,
    **who: str,
) -> date:
    today = local_day(now)
    if repo.last_certified_on(hub, facts.person_id) == today:
        # One record a day is enough: a second certification the same day changes nothing.
        audit.event(hub, "eligibility.certify", "repeat", at=now, actor_kind=actor_kind, actor=actor,
                    target_type="person", target_id=str(facts.person_id), purpose=AUDIT_PURPOSE,
                    client_id=client_id, channel=audit_channel)  # fmt: skip
        return today
    repo.insert_certification(
        hub,
        person_id=facts.person_id,
        region_code=facts.region_code,
        certified_on=today,
        certified_at=now,
        channel=channel,
        reference=reference or f"RZ{today:%Y%m%d}{secrets.token_hex(4).upper()}",
        **who,
    )
    audit.event(hub, "eligibility.certify", "ok", at=now, actor_kind=actor_kind, actor=actor, target_type="person",
                target_id=str(facts.person_id), purpose=AUDIT_PURPOSE, client_id=client_id,
                channel=audit_channel)  # fmt: skip
    log.info("eligibility certified: person %s via %s", facts.person_id, channel)
    return today


class PersonNotFound(NotFound):
    default_detail = "未找到该参保人，或该参保人不属于您所在的统筹区"


class CardMismatch(ValidationFailed):
    title = "身份证信息不符"
    default_detail = "身份证上的姓名与登记信息不一致，请核对后重试"


def certify_at_hall(
    hub: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    staff: Subject,
    *,
    document_type: str,
    document_number: str,
    name: str,
    now: datetime,
) -> tuple[int, date]:
    """Hall staff read the retiree's ID card (number and name) and record the certification.

    Only operators and reviewers, only for retirees of their 统筹区 (others answer like a missing person).
    A refusal is audited too. Returns (person id, certified day). Never commits.
    """
    if staff.kind is not SubjectKind.STAFF or not staff.roles & DATA_ROLES:
        raise Forbidden()

    def refused(result: str, person_id: int | None, error: Exception) -> Exception:
        audit.event(hub, "eligibility.certify", result, at=now, actor_kind="staff", actor=staff.account_id,
                    target_type="person", target_id=str(person_id or ""), purpose=AUDIT_PURPOSE,
                    client_id=staff.client_id, channel=Channel.HALL.value)  # fmt: skip
        return error

    try:
        compact = documents.normalize(document_type, document_number)
    except IdentityError as exc:
        raise refused("invalid", None, ValidationFailed(exc.detail)) from None
    person = core_lookup.find_person(core, document_type, compact)
    if person is None or person.region_code not in staff.region_codes:
        raise refused("not_found", None, PersonNotFound())
    if "".join(name.split()) != person.name:
        raise refused("name_mismatch", person.person_id, CardMismatch())
    facts = repo.person_facts(store, person.person_id)
    if facts is None or not facts.retired:
        raise refused("not_retiree", person.person_id, NotARetiree())
    day = _record(hub, facts, now, channel="hall", actor_kind="staff", actor=staff.account_id,
                  client_id=staff.client_id, audit_channel=Channel.HALL.value,
                  staff_account=staff.account_id)  # fmt: skip
    return person.person_id, day


def certify_at_kiosk(
    hub: psycopg.Connection[Any], store: psycopg.Connection[Any], person: Subject, kiosk: Subject, now: datetime
) -> date:
    """The retiree of a kiosk card + PIN session certifies at the kiosk. Never commits."""
    if person.kind is not SubjectKind.PERSON or person.person_id is None:
        raise Forbidden()
    if kiosk.kind is not SubjectKind.CLIENT or kiosk.channel is not Channel.KIOSK:
        raise Forbidden()
    facts = _retiree(store, person.person_id)
    return _record(hub, facts, now, channel="kiosk", actor_kind="person", actor=person.account_id,
                   client_id=kiosk.client_id, audit_channel=Channel.KIOSK.value,
                   device_client=kiosk.client_id)  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reference: str  # the provider's transaction reference (kept for disputes)


class IdentityCheck(Protocol):
    """A pluggable identity check (e.g. a face-recognition service run by a certified provider).

    The hub passes the person's internal id and the evidence the front end captured, and records only the
    result and the provider's reference, never the evidence (biometric data, PIPL Art. 28).
    """

    @property
    def provider(self) -> str: ...

    def verify(self, person_id: int, evidence: bytes) -> CheckResult: ...


def certify_with_check(
    hub: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    person: Subject,
    check: IdentityCheck,
    evidence: bytes,
    now: datetime,
) -> date:
    """The person's own certification through ``check``; a failed check records nothing but the audit."""
    if person.kind is not SubjectKind.PERSON or person.person_id is None:
        raise Forbidden()
    facts = _retiree(store, person.person_id)
    result = check.verify(person.person_id, evidence)
    if not result.passed:
        audit.event(hub, "eligibility.certify", "check_failed", at=now, actor_kind="person", actor=person.account_id,
                    target_type="person", target_id=str(person.person_id), purpose=AUDIT_PURPOSE,
                    client_id=person.client_id, channel=person.channel.value)  # fmt: skip
        raise CheckFailed()
    return _record(hub, facts, now, channel="identity_check", actor_kind="person", actor=person.account_id,
                   client_id=person.client_id, audit_channel=person.channel.value, reference=result.reference[:100],
                   provider=check.provider[:100])  # fmt: skip


@dataclass
class ReminderRun:
    sent: int = 0
    already: int = 0
    not_due: int = 0
    regions_without_cycle: list[str] | None = None


def _day_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def send_reminders(
    hub: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    settings: PushSettings,
    now: datetime,
    region_codes: list[str] | None = None,
) -> ReminderRun:
    """Remind every retiree whose certification ends within the reminder lead time (or has ended and is
    not yet suspended), once per cycle: the push notice's source key is the person and the due day.
    Never commits."""
    today = local_day(now)
    run = ReminderRun(regions_without_cycle=[])
    people = repo.retirees(store, region_codes)
    last = repo.last_certified_many(hub, [p.person_id for p in people])
    cycles: dict[str, Cycle | None] = {}
    for facts in people:
        if facts.region_code not in cycles:
            try:
                cycles[facts.region_code] = load_cycle(store, facts.region_code, today)
            except CycleMissing:
                cycles[facts.region_code] = None
                assert run.regions_without_cycle is not None
                run.regions_without_cycle.append(facts.region_code)
        cycle = cycles[facts.region_code]
        if cycle is None:
            continue
        anchor = last.get(facts.person_id)
        st = status_on(cycle, anchor or facts.retire_date or today, today, certified=anchor is not None)
        if today < st.remind_from or st.state is CertState.OVERDUE:
            run.not_due += 1
            continue
        deadline = _day_text(st.last_day_before_suspension if st.state is CertState.DUE else st.valid_until)
        notice = Notice(
            source_key=f"eligibility:{facts.person_id}:{st.due_on.isoformat()}",
            person_id=facts.person_id,
            kind=MessageKind.BUSINESS,
            title="养老待遇资格认证提醒",
            body=f"您的养老待遇资格认证有效期将于{_day_text(st.valid_until)}届满，请于{deadline}前通过经办大厅、"
            "自助终端或线上渠道完成认证，逾期将暂停发放养老待遇。",
            sms_template=REMINDER_TEMPLATE,
            personalisation={"deadline": deadline},
            link="/portal/me/certification",
        )
        if notify(hub, notice, phone=facts.phone, now=now, settings=settings) is None:
            run.already += 1
        else:
            run.sent += 1
    return run
