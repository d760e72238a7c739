"""Reading the core's change log in commit order.

On PostgreSQL a sequence number is not commit order: a transaction may take change id 10, stay open,
and commit after the transaction holding id 11 has committed and been read. Reading ``id > last``
would skip 10 for ever. So, as PgQ does, the reader works in rounds between two snapshots of the core
(``pg_current_snapshot()``): a round carries exactly the changes of the transactions that are visible
(committed) in the round's snapshot ``cur`` and were not in the previous one ``prev``. A transaction
still running when ``cur`` is taken is not visible in it, so it falls into a later round. Inside a
round, changes are read in id order in batches; the checkpoint ``(prev, cur, last_id)`` is stored in
the query store with every batch, so a restarted worker resumes the same round exactly.

Within one round, changes to the same core row are still applied in their true order: a second
writer of a row waits for the first one's commit before it writes its change, so it gets a higher id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from sync.projections import Change

EMPTY_SNAPSHOT = "1:1:"  # nothing is visible: a feed that starts at the beginning of the log

_READ = """
select id, txid::text, tbl, op, old_row::text, new_row::text, changed_at
from core.chg_log
where txid >= pg_snapshot_xmin(%(prev)s::pg_snapshot)
  and txid < pg_snapshot_xmax(%(cur)s::pg_snapshot)
  and not pg_visible_in_snapshot(txid, %(prev)s::pg_snapshot)
  and pg_visible_in_snapshot(txid, %(cur)s::pg_snapshot)
  {after_last}
order by id
limit %(n)s
"""

# Committed changes not yet applied, and the age of the oldest: the sync lag as the core sees it.
_PENDING = """
select count(*), min(changed_at)
from core.chg_log
where txid >= pg_snapshot_xmin(%(prev)s::pg_snapshot)
  and not pg_visible_in_snapshot(txid, %(prev)s::pg_snapshot)
  and (%(cur)s::pg_snapshot is null or not pg_visible_in_snapshot(txid, %(cur)s::pg_snapshot) or id > %(last)s)
"""


@dataclass(frozen=True)
class Checkpoint:
    feed: str
    prev_snapshot: str
    cur_snapshot: str | None
    last_id: int
    applied_changes: int = 0
    batches: int = 0
    last_change_id: int | None = None
    last_change_at: datetime | None = None
    applied_at: datetime | None = None


class CorruptChange(Exception):
    def __init__(self, change_id: int, reason: str) -> None:
        super().__init__(f"change {change_id}: {reason}")
        self.change_id = change_id
        self.reason = reason


def _row(change_id: int, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise CorruptChange(change_id, f"row image is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CorruptChange(change_id, "row image is not a JSON object")
    return value


def current_snapshot(core: psycopg.Connection[Any]) -> str:
    row = core.execute("select pg_current_snapshot()::text").fetchone()
    assert row is not None
    return str(row[0])


def read_batch(core: psycopg.Connection[Any], cp: Checkpoint, cur: str, limit: int) -> list[Change]:
    # At the start of a round there is no id bound: leaving out "id > 0" keeps the planner on the txid
    # index instead of a primary-key scan of the whole log when the log has no statistics yet.
    query = _READ.replace("{after_last}", "and id > %(last)s" if cp.last_id else "")
    rows = core.execute(query, {"prev": cp.prev_snapshot, "cur": cur, "last": cp.last_id, "n": limit}).fetchall()
    return [
        Change(
            id=r[0],
            txid=int(r[1]),
            table=r[2],
            op=r[3],
            old=_row(r[0], r[4]),
            new=_row(r[0], r[5]),
            changed_at=r[6],
        )
        for r in rows
    ]


def pending(core: psycopg.Connection[Any], cp: Checkpoint) -> tuple[int, datetime | None]:
    """How many committed changes the store has not applied yet, and when the oldest was written."""
    row = core.execute(_PENDING, {"prev": cp.prev_snapshot, "cur": cp.cur_snapshot, "last": cp.last_id}).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def visible(core_or_store: psycopg.Connection[Any], txid: int, snapshot: str) -> bool:
    """Whether core transaction ``txid`` is visible (committed) in ``snapshot``: a read-your-writes test."""
    row = core_or_store.execute(
        "select pg_visible_in_snapshot(%s::text::xid8, %s::pg_snapshot)", (str(txid), snapshot)
    ).fetchone()
    assert row is not None
    return bool(row[0])


def analyze(core: psycopg.Connection[Any]) -> None:
    """Refresh the change log's statistics (a core without autovacuum would leave the planner blind)."""
    core.execute("analyze core.chg_log")


def prune(core: psycopg.Connection[Any], cp: Checkpoint, older_than_hours: float) -> int:
    """Delete applied changes older than the given age; returns how many were removed.

    A change whose transaction is visible in the applied snapshot ``prev`` has been applied.
    """
    cur = core.execute(
        "delete from core.chg_log where txid < pg_snapshot_xmax(%(prev)s::pg_snapshot) "
        "and pg_visible_in_snapshot(txid, %(prev)s::pg_snapshot) "
        "and changed_at < now() - make_interval(secs => %(secs)s)",
        {"prev": cp.prev_snapshot, "secs": older_than_hours * 3600},
    )
    return cur.rowcount
