"""The SMS outbox in the hub DB: a message is stored before anything is sent.

Services call ``enqueue`` inside their own hub-DB transaction, so a message exists exactly when the
business change that caused it committed. The sms worker (``sms/``) picks messages up by priority.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

import psycopg

from hub.messaging import sealed, templates


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

    The number and the personalisation are sealed (``hub.messaging.sealed``): only the worker opens them.
    Raises ``templates.TemplateError`` for an unknown template or a missing field. ``requester_ip`` (the
    client that asked for a code) feeds the per-IP limit; a non-``mandatory`` message honours opt-outs.
    """
    templates.get(template).render(personalisation)
    keyring = sealed.for_writing(conn)
    (message_id,) = sealed.next_ids(conn, 1)
    conn.execute(
        "insert into hub.sms_message (id, recipient_enc, recipient_bidx, recipient_pidx, personalisation_enc, "
        "template, priority, purpose, reference, requester_ip, mandatory) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            message_id,
            *sealed.seal(keyring, message_id, to, personalisation),
            template,
            int(priority),
            purpose,
            reference,
            requester_ip,
            mandatory,
        ),
    )
    return message_id


def opt_out(conn: psycopg.Connection[Any], to: str, source: str) -> None:
    """Record that ``to`` refuses non-mandatory messages (e.g. replied R). Never commits."""
    conn.execute(
        "insert into hub.sms_opt_out_bidx (recipient_bidx, source) values (%s, %s) on conflict do nothing",
        (sealed.number_index(sealed.for_writing(conn), to), source),
    )


def opt_in(conn: psycopg.Connection[Any], to: str) -> None:
    conn.execute(
        "delete from hub.sms_opt_out_bidx where recipient_bidx = %s",
        (sealed.number_index(sealed.for_writing(conn), to),),
    )


def status(conn: psycopg.Connection[Any], message_id: int) -> Status | None:
    row = conn.execute("select status from hub.sms_message where id = %s", (message_id,)).fetchone()
    return Status(row[0]) if row else None
