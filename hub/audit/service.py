"""Querying the audit log: the auditor role only (三员分离); the query itself is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from pydantic import BaseModel

from hub.access import rules
from hub.access.context import AuditSink, Caller
from hub.db import WriteConnection
from hub.errors import NotFound, ValidationFailed
from hub.persons import paging

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class AuditRecordRead(BaseModel):
    chain_id: str
    seq: int
    at: datetime
    request_id: str
    actor_kind: str
    actor: str
    client_id: str
    channel: str
    action: str
    target_type: str
    target_id: str
    purpose: str
    result: str


class AuditPage(BaseModel):
    data: list[AuditRecordRead]
    next_cursor: str | None


def _cursor_time(micros: int) -> datetime:
    """The cursor's time; a number no timestamp can hold is a bad cursor, not an internal error."""
    try:
        return EPOCH + micros * MICROSECOND
    except OverflowError:
        raise ValidationFailed("分页游标无效") from None


async def list_records(
    conn: WriteConnection,
    caller: Caller,
    audit: AuditSink,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> AuditPage:
    """Audit records, newest first, optionally of one subject. Auditor only; others get NotFound."""
    n = paging.clamp(limit)
    after = paging.decode(cursor, 2)
    if not rules.audit_allowed(caller.subject):
        await audit.record(caller, "audit.query", target_type or "audit", target_id or "*", "not_found")
        raise NotFound()
    cur = conn.cursor(row_factory=dict_row)
    params: dict[str, Any] = {
        "tt": target_type,
        "ti": target_id,
        "at": _cursor_time(after[0]) if after else None,
        "sq": after[1] if after else None,
        "n": n + 1,
    }
    await cur.execute(
        "select * from hub.audit_log where (%(tt)s::text is null or target_type = %(tt)s) "
        "and (%(ti)s::text is null or target_id = %(ti)s) "
        "and (%(at)s::timestamptz is null or (at, seq) < (%(at)s, %(sq)s::bigint)) "
        "order by at desc, seq desc limit %(n)s",
        params,
    )
    rows = await cur.fetchall()
    await audit.record(caller, "audit.query", target_type or "audit", target_id or "*", "ok")
    more = len(rows) > n
    rows = rows[:n]
    next_cursor = paging.encode((rows[-1]["at"] - EPOCH) // MICROSECOND, rows[-1]["seq"]) if more else None
    return AuditPage(data=[AuditRecordRead.model_validate(r) for r in rows], next_cursor=next_cursor)
