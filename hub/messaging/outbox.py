"""The SMS outbox in the hub DB: a message is stored before anything is sent.

Services call ``enqueue`` inside their own hub-DB transaction, so a message exists exactly when the
business change that caused it committed. The sms worker (``sms/``) picks messages up by priority.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import psycopg


class Priority(IntEnum):
    """Lower goes first: codes and 办结 notices ahead of any broadcast."""

    CODE = 0
    NOTICE = 1
    BULK = 2


def enqueue(
    conn: psycopg.Connection[Any],
    *,
    to: str,
    template: str,
    personalisation: dict[str, str],
    priority: Priority,
    purpose: str,
    reference: str | None = None,
) -> int:
    """Store a message for ``to`` (a mobile number) in state ``created``; returns its id. Never commits."""
    row = conn.execute(
        "insert into hub.sms_message (recipient, template, personalisation, priority, purpose, reference) "
        "values (%s, %s, %s::jsonb, %s, %s, %s) returning id",
        (to, template, json.dumps(personalisation, ensure_ascii=False), int(priority), purpose, reference),
    ).fetchone()
    assert row is not None
    return int(row[0])
