"""The OIDC UserInfo answer: only the claims the access token's scopes allow, masked by its channel.

| scope | claims |
|---|---|
| ``openid`` (required) | ``sub`` (the hub account id), ``kind`` (person, unit_operator, staff) |
| ``profile`` | ``name`` (masked where the channel masks names, e.g. kiosk and hotline) |
| ``phone`` | ``phone_number`` (masked unless the channel shows phones: the hall counter), ``phone_number_verified`` |
| ``person:read`` | ``person_id`` (the internal person id; persons only) |
| ``unit:read`` | ``unit_id`` (the internal unit id; unit operators only) |

No document number is ever returned: the hub keeps only its blind index. Each answer writes one
audit record (it is a read of personal data).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from hub.access.channels import masker
from hub.access.subject import Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts

CLAIMS = ("sub", "kind", "name", "phone_number", "phone_number_verified", "person_id", "unit_id")


class InsufficientScope(Exception):
    """The token lacks ``openid`` (or belongs to a client acting for itself)."""


class NoSuchUser(Exception):
    """The token's account no longer exists or is disabled."""


def claims(conn: psycopg.Connection[Any], subject: Subject, *, now: datetime, request_id: str = "") -> dict[str, Any]:
    """The UserInfo claims for ``subject``; audits the read in the caller's transaction (commit it)."""
    if subject.kind is SubjectKind.CLIENT or not subject.has_scope("openid"):
        raise InsufficientScope()
    account = accounts.get(conn, subject.account_id)
    if account is None or not account.active:
        raise NoSuchUser()
    mask = masker(subject.channel)
    body: dict[str, Any] = {"sub": account.id, "kind": account.kind.value}
    if subject.has_scope("profile"):
        body["name"] = mask.name(account.display_name)
    if subject.has_scope("phone") and account.phone:
        body["phone_number"] = mask.phone(account.phone)
        # Persons' phones are the core's and were proved by an SMS code at login; others' by their own codes.
        body["phone_number_verified"] = "sms" in subject.auth_methods
    if subject.has_scope("person:read") and account.kind is SubjectKind.PERSON and account.person_id is not None:
        body["person_id"] = account.person_id
    if subject.has_scope("unit:read") and account.kind is SubjectKind.UNIT_OPERATOR and account.unit_id is not None:
        body["unit_id"] = account.unit_id
    released = ",".join(sorted(k for k in body if k not in ("sub", "kind")))
    audit.event(
        conn,
        "oauth.userinfo",
        "ok",
        at=now,
        actor_kind=account.kind.value,
        actor=account.id,
        target_id=account.id,
        purpose=f"oauth:{released}" if released else "oauth",
        request_id=request_id,
        client_id=subject.client_id,
        channel=subject.channel.value,
    )
    return body
