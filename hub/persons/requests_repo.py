"""SQL of the person requests (``hub.person_request``) and their history (``hub.person_request_event``).

One row is both what the person follows (办理进度) and the command the outbox sends to the core. Nothing
here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hub.crypto import payloads


@dataclass(frozen=True)
class Row:
    id: int
    reference: str
    person_id: int
    type: str
    payload: dict[str, Any]
    status: str
    channel: str
    actor_kind: str
    actor: str
    reason: str | None
    core_result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class EventRow:
    at: datetime
    from_status: str | None
    to_status: str
    actor_kind: str
    actor: str
    reason: str | None


@dataclass(frozen=True)
class Due:
    """A claimed request: what is sent to the core and the attempt it belongs to."""

    id: int
    was: str
    command_id: uuid.UUID
    type: str
    person_id: int
    payload: dict[str, Any]
    attempts: int
    reference: str
    business_date: date


# The payload is sealed (``payload_enc``, ``hub.crypto.payloads``); ``payload`` is the previous release's
# plaintext, null once the data step has sealed it. Rows come back with the payload opened.
_COLUMNS = (
    "id, reference, person_id, type, payload_enc, payload, status, channel, actor_kind, actor, reason, core_result, "
    "created_at, updated_at, finished_at"
)


def _row(conn: psycopg.Connection[Any], r: tuple[Any, ...]) -> Row:
    request_id, reference, person_id, type_, envelope, plain, *rest = r
    payload = payloads.opened(conn, payloads.PERSON_REQUEST, request_id, envelope, plain)
    return Row(request_id, reference, person_id, type_, payload, *rest)


def insert(
    conn: psycopg.Connection[Any],
    *,
    person_id: int,
    type_: str,
    payload: dict[str, Any],
    key: str,
    channel: str,
    actor_kind: str,
    actor: str,
    evidence: dict[str, Any],
    at: datetime,
) -> int | None:
    """A new submitted request; None when the person already used ``key`` (a concurrent twin)."""
    found = conn.execute("select nextval('hub.person_request_id_seq')").fetchone()
    assert found is not None
    new_id = int(found[0])
    row = conn.execute(
        "insert into hub.person_request (id, reference, person_id, type, payload_enc, status, idempotency_key, "
        "channel, actor_kind, actor, evidence, command_id, created_at, updated_at) "
        "values (%(id)s, 'GR' || to_char(%(at)s at time zone 'Asia/Shanghai', 'YYYYMMDD') "
        "|| lpad(%(id)s::text, 8, '0'), "
        "%(person)s, %(type)s, %(payload)s, 'submitted', %(key)s, %(channel)s, %(kind)s, %(actor)s, %(evidence)s, "
        "%(command)s, %(at)s, %(at)s) "
        "on conflict (person_id, idempotency_key) do nothing returning id",
        {
            "id": new_id,
            "at": at,
            "person": person_id,
            "type": type_,
            "payload": payloads.request_envelope(conn, new_id, payload),
            "key": key,
            "channel": channel,
            "kind": actor_kind,
            "actor": actor,
            "evidence": Jsonb(evidence),
            "command": uuid.uuid4(),
        },
    ).fetchone()
    return int(row[0]) if row else None


def fetch(conn: psycopg.Connection[Any], request_id: int, *, lock: bool = False) -> Row | None:
    sql = f"select {_COLUMNS} from hub.person_request where id = %s" + (" for update" if lock else "")
    found = conn.execute(sql, (request_id,)).fetchone()
    return _row(conn, found) if found else None


def fetch_by_key(conn: psycopg.Connection[Any], person_id: int, key: str) -> Row | None:
    found = conn.execute(
        f"select {_COLUMNS} from hub.person_request where person_id = %s and idempotency_key = %s", (person_id, key)
    ).fetchone()
    return _row(conn, found) if found else None


def list_for_person(conn: psycopg.Connection[Any], person_id: int, limit: int) -> list[Row]:
    rows = conn.execute(
        f"select {_COLUMNS} from hub.person_request where person_id = %s order by id desc limit %s",
        (person_id, limit),
    ).fetchall()
    return [_row(conn, r) for r in rows]


def evidence(conn: psycopg.Connection[Any], request_id: int) -> dict[str, Any]:
    row = conn.execute("select evidence from hub.person_request where id = %s", (request_id,)).fetchone()
    return dict(row[0]) if row else {}


def add_event(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    at: datetime,
    from_status: str | None,
    to_status: str,
    actor_kind: str,
    actor: str,
    reason: str | None = None,
) -> None:
    conn.execute(
        "insert into hub.person_request_event (request_id, at, from_status, to_status, actor_kind, actor, reason) "
        "values (%s, %s, %s, %s, %s, %s, %s)",
        (request_id, at, from_status, to_status, actor_kind, actor, reason),
    )


def events(conn: psycopg.Connection[Any], request_id: int) -> list[EventRow]:
    rows = conn.execute(
        "select at, from_status, to_status, actor_kind, actor, reason from hub.person_request_event "
        "where request_id = %s order by id",
        (request_id,),
    ).fetchall()
    return [EventRow(*r) for r in rows]


# A person's requests reach the core in the order they were made: a request is due only when no earlier
# request of the same person is still open (a 解挂 never overtakes the 挂失 before it). A claimed request's
# next_attempt_at is its lease: not recorded by then, it is claimed again.
CLAIM = """
with due as (
    select r.id, r.status as was from hub.person_request r
    where r.status in ('submitted', 'sent') and r.next_attempt_at <= now()
      and not exists (
        select 1 from hub.person_request e
        where e.person_id = r.person_id and e.status in ('submitted', 'sent') and e.id < r.id
      )
    order by r.next_attempt_at limit %(n)s for update of r skip locked
)
update hub.person_request r set status = 'sent', attempts = r.attempts + 1, updated_at = now(),
    next_attempt_at = now() + make_interval(secs => %(lease)s)
from due where r.id = due.id
returning r.id, due.was, r.command_id, r.type, r.person_id, r.payload_enc, r.payload, r.attempts, r.reference,
    (r.created_at at time zone 'Asia/Shanghai')::date
"""


def claim(conn: psycopg.Connection[Any], n: int, lease_seconds: float) -> list[Due]:
    """Claim due requests; their payloads are opened here, where the outbox builds the command for the core."""
    claimed = []
    for request_id, was, command_id, type_, person_id, envelope, plain, *rest in conn.execute(
        CLAIM, {"n": n, "lease": lease_seconds}
    ).fetchall():
        payload = payloads.opened(conn, payloads.PERSON_REQUEST, request_id, envelope, plain)
        claimed.append(Due(request_id, was, command_id, type_, person_id, payload, *rest))
    return claimed


def retry_later(conn: psycopg.Connection[Any], request_id: int, attempts: int, delay: float, error: str) -> None:
    """Back to due after ``delay`` seconds, unless another worker has claimed it since."""
    conn.execute(
        "update hub.person_request set last_error = %s, next_attempt_at = now() + make_interval(secs => %s) "
        "where id = %s and status = 'sent' and attempts = %s",
        (error[:200], delay, request_id, attempts),
    )


def finish(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    status: str,
    reason: str | None,
    position: str | None,
    result: dict[str, Any],
    at: datetime,
) -> bool:
    """Record the core's answer once (guarded by ``sent``); False when it was recorded already."""
    row = conn.execute(
        "update hub.person_request set status = %s, reason = %s, core_position = %s, core_result = %s, "
        "finished_at = %s, updated_at = %s, last_error = null where id = %s and status = 'sent' returning id",
        (status, reason, position, Jsonb(result), at, at, request_id),
    ).fetchone()
    return row is not None


def status_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute("select status, count(*) from hub.person_request group by status").fetchall()
    return {str(k): int(v) for k, v in rows}


def used_code_binding(conn: psycopg.Connection[Any], ticket: str, purpose: str) -> str | None:
    """The binding of an SMS code already consumed (to recognise a resubmission), else None."""
    row = conn.execute(
        "select binding_enc, binding from hub.verification_code where ticket = %s and purpose = %s "
        "and used_at is not null",
        (ticket, purpose),
    ).fetchone()
    return payloads.open_binding(conn, ticket, row[0], row[1]) if row else None
