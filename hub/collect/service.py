"""数据采集 on the agency's side: a collection becomes one declaration of type ``unit_collect``, reviewed in
the workbench like any other; its approval sends the ``unit_collect`` command to the core, which opens the
unit with its staff and retirees as a whole (or refuses it whole). Once the core has applied it, the hub
issues the unit's activation code (``hub.identity.unit_activation``'s counter codes: stored as an HMAC,
single use, expiring) and sends it by SMS to the contact phone the collection gave, with the new 单位编号;
the contact then creates the unit's first operator account (its administrator) on the activation page.

A collection has no unit yet, so its declaration carries ``unit_id`` 0 and the 统筹区 the unit chose; the
单位编号 the core gave is in the declaration's ``core_result``. Every function works inside the caller's
transaction and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from hub.access.subject import Subject
from hub.collect import keys, package
from hub.declarations import access, deadlines, records, review
from hub.declarations import calendar as cal
from hub.declarations import types as t
from hub.declarations.records import Declaration
from hub.declarations.service import Actor, key_of, local_day, save_once, transition
from hub.declarations.states import Action
from hub.errors import ValidationFailed
from hub.identity import core_lookup, unit_activation
from hub.identity.config import IdentityConfig
from hub.identity.errors import NotFound as IdentityNotFound
from hub.messaging import outbox as sms

log = logging.getLogger(__name__)

KIND = t.DeclarationType.UNIT_COLLECT
NO_UNIT = 0  # a collection's unit_id until the core has opened the unit
DEFAULT_POLICY = unit_activation.ActivationPolicy()


def regions(query: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """The 统筹区 a unit may choose: those with an agency, with their names."""
    rows = query.execute(
        "select distinct a.region_code, coalesce(p.value ->> 'name', a.region_code) from agency a "
        "left join region_parameter p on p.kind = 'ya_region' and p.region_code = a.region_code "
        "order by a.region_code"
    ).fetchall()
    return [(str(code), str(name)) for code, name in rows]


def _check_region(query: psycopg.Connection[Any], region: str) -> None:
    if query.execute("select 1 from agency where region_code = %s limit 1", (region,)).fetchone() is None:
        raise ValidationFailed(
            "申报内容有误，请按提示修改",
            errors=[{"field": "unit.region_code", "message": "所选统筹区没有社会保险经办机构，请重新选择"}],
        )


def applicant(uscc: str, channel: str) -> Actor:
    """The unit's clerk, who has no account yet: recorded by the unit's 统一社会信用代码."""
    return Actor("unit_operator", f"collect:{uscc}", "collect", channel)


def submit(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    payload: Any,
    *,
    actor: Actor,
    key: str,
    now: datetime,
) -> Declaration:
    """Submit a collection for review (idempotent by ``key``); returns the declaration.

    The same key again returns the declaration it created; with a different content, ``Conflict``.
    Raises ``ValidationFailed`` (every error by row and field, in Chinese) for an invalid collection.
    """
    body = t.canonical(KIND, payload)
    key = key_of(key)

    def region() -> str:
        code = str(body["unit"]["region_code"])
        _check_region(query, code)
        return code

    def submit_new(decl: Declaration) -> Declaration:
        received = local_day(now)
        due = cal.due_date(conn, received, deadlines.working_days(conn, KIND, received))
        return transition(conn, decl, Action.SUBMIT, actor, at=now, submitted_at=now, due_date=due)

    return save_once(
        conn, unit_id=NO_UNIT, region=region, kind=KIND, body=body, key=key, actor=actor, at=now, then=submit_new
    )


# The offline version's packages -------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    opened: package.Opened
    assessment: review.Assessment


def preview_package(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    data: bytes,
    *,
    kek: str,
    subject: Subject | None,
    today: date,
) -> Preview:
    """Verify, decrypt and validate a package and show what it would create; writes nothing.

    ``subject`` (the import page) must be agency staff of the collection's 统筹区; the command line
    passes None. Raises ``PackageRefused``, ``ValidationFailed``, ``KeysUnavailable``, ``NotPermitted``.
    """
    if subject is not None:
        access.require_staff_reader(subject)
    opened = package.open_package(data, keys.key_pairs(conn, kek))
    region = str(opened.payload["unit"]["region_code"])
    if subject is not None and region not in subject.region_codes:
        raise package.PackageRefused("该数据采集包所选统筹区不在您的经办范围内")
    return Preview(opened, review.assess(query, KIND, NO_UNIT, opened.payload, today))


def import_package(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    data: bytes,
    *,
    kek: str,
    subject: Subject | None,
    now: datetime,
) -> tuple[Preview, Declaration]:
    """Preview, then submit the collection as a declaration (one per package: importing it again returns
    the same declaration)."""
    shown = preview_package(conn, query, data, kek=kek, subject=subject, today=local_day(now))
    actor = Actor.of(subject) if subject is not None else Actor("system", "collect-import")
    decl = submit(conn, query, shown.opened.payload, actor=actor, key=f"pkg:{shown.opened.digest}", now=now)
    return shown, decl


# After the core has opened the unit ---------------------------------------------------------------


def _notice(reference: str, unit_id: int, code: str, days: int) -> str:
    return (
        f"您单位的参保登记（受理号{reference}）已办结，单位编号{unit_id}。网上服务开通码{code}，{days}日内有效，"
        "请在单位网上服务平台“单位开通”页面凭单位编号和开通码设置单位管理员账号。"
    )


def deliver_openings(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    now: datetime,
    policy: unit_activation.ActivationPolicy = DEFAULT_POLICY,
) -> int:
    """For each collection the core has applied and not yet handled: issue the unit's activation code and
    queue it by SMS to the collection's contact phone. Returns how many were delivered. Never commits;
    concurrent runs skip each other's rows, and a delivered collection is never delivered again."""
    rows = conn.execute(
        "select d.id from hub.declaration d where d.type = %s and d.status = 'applied' "
        "and not exists (select 1 from hub.collect_opening o where o.declaration_id = d.id) "
        "order by d.id for update of d skip locked",
        (KIND.value,),
    ).fetchall()
    delivered = 0
    for (declaration_id,) in rows:
        decl = records.fetch(conn, int(declaration_id))
        assert decl is not None
        unit_id = int((decl.core_result or {}).get("unit_id") or 0)
        if not unit_id:
            log.error("collection %s applied without a unit id in the core result", decl.id)
            continue
        try:
            issued = unit_activation.issue_counter_code(
                conn, core, cfg, unit_code=str(unit_id), issued_by=f"collect:{decl.reference}", now=now, policy=policy
            )
        except unit_activation.AlreadyActivated:
            issued = None
        except IdentityNotFound:
            log.warning("collection %s: unit %s not found in the core yet", decl.id, unit_id)
            continue
        if issued is not None:
            sms.enqueue(
                conn,
                to=str(decl.payload["unit"]["contact_phone"]),
                template="staff_notice",
                personalisation={"content": _notice(decl.reference, unit_id, issued.code, policy.counter_ttl_days)},
                priority=sms.Priority.NOTICE,
                purpose="unit_collect_opened",
                reference=decl.reference,
            )
        conn.execute(
            "insert into hub.collect_opening (declaration_id, unit_id, delivered_at) values (%s, %s, %s)",
            (decl.id, unit_id, now),
        )
        delivered += 1
        log.info("collection %s: unit %s opened, activation code queued", decl.id, unit_id)
    return delivered


@dataclass(frozen=True)
class OpeningDelivery:
    """``deliver_openings`` as the outbox worker's after-apply step (``OutboxWorker(after_applied=…)``): once
    the worker has recorded applied commands it calls this in a transaction of its own, so the activation code
    of a unit a collection opened goes out without ``hub collect deliver``. Each call picks up every applied
    collection not yet delivered, so one a crash left between the recorded apply and the delivery is delivered
    by the next call (a restarted worker makes one on start); the code, its SMS and the delivery record commit
    together, so it goes out once. Never commits."""

    core_url: str
    cfg: IdentityConfig
    policy: unit_activation.ActivationPolicy = DEFAULT_POLICY

    def __call__(self, conn: psycopg.Connection[Any], now: datetime) -> int:
        with core_lookup.read_only(self.core_url) as core:
            return deliver_openings(conn, core, self.cfg, now=now, policy=self.policy)
