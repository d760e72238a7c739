"""Who may manage content, and the audit event every staff write leaves in its own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from hub.access.subject import StaffRole, Subject
from hub.audit import sync_writer as audit
from hub.errors import Forbidden


def require_role(actor: Subject, *roles: StaffRole) -> None:
    """Raise Forbidden (rendered as not found) unless ``actor`` is staff holding one of ``roles``."""
    if not any(actor.has_role(r) for r in roles):
        raise Forbidden()


def event(
    conn: psycopg.Connection[Any], actor: Subject, action: str, target_type: str, target_id: str, now: datetime
) -> None:
    audit.event(
        conn,
        action,
        "ok",
        at=now,
        actor_kind=actor.kind.value,
        actor=actor.account_id,
        target_type=target_type,
        target_id=target_id,
        purpose="content",
        client_id=actor.client_id,
        channel=actor.channel.value,
    )
