"""Sending a notice through the channels ``decide`` picks, exactly once per source key.

A notice is recorded in ``hub.push_notice`` under its ``source_key`` (the business event or fact change
that caused it) in the caller's transaction, with its inbox message and SMS; a repeated event finds the
key and does nothing. An SMS held by quiet hours waits in the same row until ``release_due`` hands it to
the SMS outbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from hub.config.push import PushSettings
from hub.content import inbox
from hub.content.inbox import MessageKind
from hub.crypto import payloads
from hub.errors import ValidationFailed
from hub.messaging import outbox
from hub.messaging.outbox import Priority
from hub.push.decide import MANDATORY_SMS, Decision, Preferences, Route, Urgency, decide


@dataclass(frozen=True)
class Notice:
    source_key: str  # what caused it; one notice per key, ever
    person_id: int
    kind: MessageKind
    title: str  # inbox title
    body: str  # inbox text
    sms_template: str | None = None  # None: this notice never goes by SMS
    personalisation: dict[str, str] = field(default_factory=dict)
    urgency: Urgency = Urgency.NORMAL
    link: str | None = None


def load_preferences(conn: psycopg.Connection[Any], person_id: int, settings: PushSettings) -> Preferences:
    row = conn.execute(
        "select routes, quiet_start, quiet_end from hub.push_preference where person_id = %s", (person_id,)
    ).fetchone()
    if row is None:
        return Preferences(quiet_start=settings.quiet_start, quiet_end=settings.quiet_end)
    routes = {MessageKind(k): Route(v) for k, v in (row[0] or {}).items()}
    return Preferences(routes, row[1] or settings.quiet_start, row[2] or settings.quiet_end)


def save_preferences(
    conn: psycopg.Connection[Any],
    person_id: int,
    routes: dict[str, str],
    quiet_start: time | None,
    quiet_end: time | None,
    now: datetime,
) -> Preferences:
    """A person's own choice of channels and quiet hours (validated; Chinese messages). Never commits."""
    try:
        parsed = {MessageKind(k): Route(v) for k, v in routes.items()}
    except ValueError:
        raise ValidationFailed("通知方式只能选择：应用内、短信、两者或不接收") from None
    if (quiet_start is None) != (quiet_end is None):
        raise ValidationFailed("免打扰时段需要同时填写开始和结束时间")
    conn.execute(
        "insert into hub.push_preference (person_id, routes, quiet_start, quiet_end, updated_at) "
        "values (%s, %s::jsonb, %s, %s, %s) on conflict (person_id) do update set routes = excluded.routes, "
        "quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, updated_at = excluded.updated_at",
        (person_id, json.dumps({k.value: v.value for k, v in parsed.items()}), quiet_start, quiet_end, now),
    )
    return Preferences(parsed, quiet_start or time(21, 0), quiet_end or time(8, 0))


def has_app(conn: psycopg.Connection[Any], person_id: int) -> bool:
    """The person has a live grant of an app client (logged in to 掌上12333 and not revoked)."""
    row = conn.execute(
        "select exists (select 1 from hub.oauth_grant g join hub.oauth_client c using (client_id) "
        "join hub.account a on a.id = g.account_id where a.kind = 'person' and a.person_id = %s "
        "and c.channel = 'app' and g.revoked_at is null)",
        (person_id,),
    ).fetchone()
    return bool(row and row[0])


def notify(
    conn: psycopg.Connection[Any], notice: Notice, *, phone: str | None, now: datetime, settings: PushSettings
) -> Decision | None:
    """Route and send ``notice``; None when its source key was handled before. Never commits."""
    row = conn.execute(
        "insert into hub.push_notice (source_key, person_id, kind, urgency, title, created_at) "
        "values (%s, %s, %s, %s, %s, %s) on conflict (source_key) do nothing returning id",
        (notice.source_key, notice.person_id, notice.kind.value, notice.urgency.value, notice.title, now),
    ).fetchone()
    if row is None:
        return None
    notice_id = int(row[0])
    decision = decide(
        load_preferences(conn, notice.person_id, settings),
        notice.kind,
        notice.urgency,
        now,
        has_app=has_app(conn, notice.person_id),
        has_phone=bool(phone) and notice.sms_template is not None,
        tz=ZoneInfo(settings.timezone),
    )
    app_message_id = None
    if decision.app:
        app_message_id = inbox.deliver(
            conn,
            notice.person_id,
            notice.kind,
            notice.title,
            notice.body,
            now=now,
            link=notice.link,
            source_key=notice.source_key,
        )
    conn.execute(
        "update hub.push_notice set app_message_id = %s, sms_template = %s, personalisation = %s::jsonb, "
        "sms_phone_enc = %s, sms_due_at = %s, mandatory = %s where id = %s",
        (
            app_message_id,
            notice.sms_template if decision.sms else None,
            json.dumps(notice.personalisation, ensure_ascii=False),
            # the number is held sealed to the notice until the SMS is queued
            payloads.seal_value(conn, payloads.PUSH_SMS_PHONE, notice_id, phone if decision.sms else None),
            decision.sms_at,
            notice.kind in MANDATORY_SMS,
            notice_id,
        ),
    )
    if decision.sms_at is not None and decision.sms_at <= now:
        _send_sms(conn, notice_id)
    return decision


def _send_sms(conn: psycopg.Connection[Any], notice_id: int) -> None:
    row = conn.execute(
        "select sms_phone_enc, sms_phone, sms_template, personalisation, kind, source_key, mandatory "
        "from hub.push_notice where id = %s and sms_message_id is null",
        (notice_id,),
    ).fetchone()
    if row is None:
        return
    envelope, plain, template, personalisation, kind, source_key, mandatory = row
    phone = payloads.open_value(conn, payloads.PUSH_SMS_PHONE, notice_id, envelope, plain)
    if phone is None:  # an SMS is held only with its number: nothing to send to, stop holding it
        conn.execute("update hub.push_notice set sms_due_at = null where id = %s", (notice_id,))
        return
    message_id = outbox.enqueue(
        conn,
        to=phone,
        template=template,
        personalisation=dict(personalisation),
        priority=Priority.NOTICE,
        purpose=f"push:{kind}",
        reference=source_key,
        mandatory=bool(mandatory),
    )
    conn.execute(
        "update hub.push_notice set sms_message_id = %s, sms_phone = null, sms_phone_enc = null where id = %s",
        (message_id, notice_id),
    )


def release_due(conn: psycopg.Connection[Any], now: datetime, limit: int = 500) -> int:
    """Hand held SMS whose quiet hours have ended to the SMS outbox; returns how many. Never commits."""
    rows = conn.execute(
        "select id from hub.push_notice where sms_message_id is null and sms_due_at is not null "
        "and sms_due_at <= %s order by sms_due_at, id limit %s for update skip locked",
        (now, limit),
    ).fetchall()
    for (notice_id,) in rows:
        _send_sms(conn, int(notice_id))
    return len(rows)
