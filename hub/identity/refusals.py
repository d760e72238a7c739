"""Refused administration attempts (三员分离) and their audit records.

The services raise ``Refused`` (a ``Forbidden`` with a reason code) when a rule of roles or separation
says no; the administration pages and the command line then write one audit record of the attempt with
``record`` — actor, the action attempted, its target, the reason code as the purpose and the outcome
``refused`` — in the same synchronous chain as the accepted actions (``hub.audit.sync_writer``), in a
transaction of its own after the attempt's own was rolled back, so the refusal is kept and nothing of
the attempt is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from hub.access.subject import Subject
from hub.audit import sync_writer as audit
from hub.identity.errors import Forbidden

# Reason codes (the audit record's ``purpose``).
ROLE_REQUIRED = "role_required"  # the caller does not hold the role the action needs
SELF = "self"  # an administrator acting on their own account (grant, revoke, disable, reset)
OTHER_UNIT = "other_unit"  # a unit's administrator acting on an operator of another unit
SEPARATION = "separation"  # a second of the three administrator roles on one account
NOT_ADMIN_ROLE = "not_admin_role"  # `hub admin bootstrap` for a role that is not one of the three
ALREADY_INSTALLED = "already_installed"  # `hub admin bootstrap` once the role has a holder
PUBLIC_CLIENT = "public_client"  # a secret for the app (a public client)
CLIENT_DISABLED = "client_disabled"  # a secret for a disabled client
INSTALLER_ONLY = "installer_only"  # a portal or hall client enabled from the pages
REFUSED = "refused"  # the outcome written with every reason


class Refused(Forbidden):
    """A refusal by rule; ``reason`` is the code recorded in the audit chain (the user sees ``detail``)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason


def reason_of(exc: Forbidden) -> str:
    return exc.reason if isinstance(exc, Refused) else ROLE_REQUIRED


def record(
    conn: psycopg.Connection[Any],
    actor: Subject,
    action: str,
    *,
    target_type: str,
    target_id: str,
    reason: str,
    now: datetime,
    ip: str | None = None,
) -> None:
    """One refused attempt by ``actor`` in the audit chain. Never commits."""
    audit.event(
        conn, action, REFUSED, at=now, actor_kind=actor.kind.value, actor=actor.account_id, target_type=target_type,
        target_id=target_id[:64], purpose=reason, ip=ip, client_id=actor.client_id, channel=actor.channel.value,
    )  # fmt: skip
