"""The SMS outbox in the hub DB: a message is stored before anything is sent.

Services call ``enqueue`` inside their own hub-DB transaction, so a message exists exactly when the
business change that caused it committed. The sms worker (``sms/``) picks messages up by priority.
"""

from __future__ import annotations

import json
from enum import IntEnum, StrEnum
from typing import Any

import psycopg

from hub.messaging import templates


class Priority(IntEnum):
    """Lower goes first: codes and 办结 notices ahead of any broadcast."""

    CODE = 0
    NOTICE = 1
    BULK = 2


class Status(StrEnum):
    """created → queued → sent → delivered, or failed; unknown when a submit was in flight at a crash."""

    CREATED = "created"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"


class FailureKind(StrEnum):
    PERMANENT = "permanent"  # the number or the content is refused; retrying will not help
    TEMPORARY = "temporary"  # the handset was unreachable until the message expired
    TECHNICAL = "technical"  # our side or the SMSC's side failed


def enqueue(
    conn: psycopg.Connection[Any],
    *,
    to: str,
    template: str,
    personalisation: dict[str, str],
    priority: Priority,
    purpose: str,
    reference: str | None = None,
    requester_ip: str | None = None,
    mandatory: bool = True,
) -> int:
    """Store a message for ``to`` (a mobile number) in state ``created``; returns its id. Never commits.

    Raises ``templates.TemplateError`` for an unknown template or a missing field. ``requester_ip`` (the
    client that asked for a code) feeds the per-IP limit; a non-``mandatory`` message honours opt-outs.
    """
    templates.get(template).render(personalisation)
    row = conn.execute(
        "insert into hub.sms_message (recipient, template, personalisation, priority, purpose, reference, "
        "requester_ip, mandatory) values (%s, %s, %s::jsonb, %s, %s, %s, %s, %s) returning id",
        (
            to,
            template,
            json.dumps(personalisation, ensure_ascii=False),
            int(priority),
            purpose,
            reference,
            requester_ip,
            mandatory,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def opt_out(conn: psycopg.Connection[Any], to: str, source: str) -> None:
    """Record that ``to`` refuses non-mandatory messages (e.g. replied R). Never commits."""
    conn.execute(
        "insert into hub.sms_opt_out (recipient, source) values (%s, %s) on conflict (recipient) do nothing",
        (to, source),
    )


def opt_in(conn: psycopg.Connection[Any], to: str) -> None:
    conn.execute("delete from hub.sms_opt_out where recipient = %s", (to,))


def status(conn: psycopg.Connection[Any], message_id: int) -> Status | None:
    row = conn.execute("select status from hub.sms_message where id = %s", (message_id,)).fetchone()
    return Status(row[0]) if row else None
