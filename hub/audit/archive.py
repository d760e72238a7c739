"""Moving audit records past the retention period into ``hub.audit_log_archive`` (archived, never deleted).

等保 level 3 asks for at least six months of audit records (DOMAIN.md §6.1); the archive keeps them for
good, in the same database and the same append-only form, so `hub audit verify` still walks every chain
end to end (archive and live log together). The newest record of each chain always stays in the live
log, where writers find their chain's head. Runs in batches, one transaction each, safe to interrupt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.errors import ValidationFailed

MIN_RETENTION = timedelta(days=183)  # six months, at least

_COLUMNS = (
    "chain_id, seq, at, request_id, actor_kind, actor, client_id, channel, action, target_type, target_id, "
    "purpose, result, ip, prev_hash, hash"
)


def archive(
    conn: psycopg.Connection[Any],
    before: datetime,
    *,
    now: datetime,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Move every record older than ``before`` (but each chain's newest) to the archive; returns how many.

    Refuses a ``before`` less than six months ago: records that young must stay in the live log.
    """
    if not conn.autocommit:
        raise ValueError("archive needs an autocommit connection: each batch is its own transaction")
    if before > now - MIN_RETENTION:
        raise ValidationFailed("审计记录至少保留6个月，只能归档6个月以前的记录")
    moved = 0
    while True:
        with conn.transaction():
            conn.execute("set local hub.audit_archive = 'on'")
            rows = conn.execute(
                f"""
                with heads as (select chain_id, max(seq) as head from hub.audit_log group by chain_id),
                picked as (
                    select l.chain_id, l.seq from hub.audit_log l join heads h using (chain_id)
                    where l.at < %(before)s and l.seq < h.head
                    order by l.chain_id, l.seq limit %(n)s
                ),
                copied as (
                    insert into hub.audit_log_archive ({_COLUMNS})
                    select {_COLUMNS} from hub.audit_log l join picked p using (chain_id, seq)
                    returning chain_id, seq
                )
                select count(*) from copied
                """,
                {"before": before, "n": batch},
            ).fetchone()
            copied = int(rows[0]) if rows else 0
            if copied:
                conn.execute(
                    "delete from hub.audit_log l using hub.audit_log_archive a "
                    "where a.chain_id = l.chain_id and a.seq = l.seq and a.hash = l.hash"
                )
        moved += copied
        if progress is not None and copied:
            progress(copied)
        if copied < batch:
            return moved
