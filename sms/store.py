"""SQL of the sms worker: recovery after a crash, and applying transport events to messages and segments.

Every function runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from hub.messaging import sealed
from hub.messaging.outbox import FailureKind
from sms import receipts
from sms.transport import Accepted, Event, Incoming, LateAccepted, NotSent, PartKey, Receipt, Rejected, Unknown

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

# submit_sm_resp statuses that say the number itself is wrong
_PERMANENT_STATUSES = {0x0A, 0x0B, 0x33, 0x45}
OPT_OUT_WORDS = {"R", "T", "TD", "N", "退订", "拒收"}


@dataclass
class Applied:
    settled: list[PartKey] = field(default_factory=list)  # parts that left the window
    not_sent: list[PartKey] = field(default_factory=list)
    receipts: int = 0
    duplicate_receipts: int = 0
    orphan_receipts: int = 0


def record_event(conn: Conn, kind: str, detail: dict[str, Any]) -> None:
    conn.execute("insert into hub.sms_event (kind, detail) values (%s, %s::jsonb)", (kind, json.dumps(detail)))


def recover(conn: Conn) -> tuple[int, int]:
    """Parts still 'submitting' were in flight when the last worker died: they become unknown.

    Returns (segments, messages) marked unknown; the job policy decides later whether any is sent again.
    """
    rows = conn.execute(
        # ``acked_at is null``: the partial index of the parts in flight (a segment's status is in no index)
        "update hub.sms_segment set status = 'unknown' where acked_at is null and status = 'submitting' "
        "returning message_id"
    ).fetchall()
    ids = sorted({int(r[0]) for r in rows})
    messages = conn.execute(
        "update hub.sms_message set status = 'unknown', updated_at = now() "
        "where id = any(%s) and status = 'queued' returning id",
        (ids,),
    ).fetchall()
    record_event(conn, "recovery", {"segments": len(rows), "messages": len(messages)})
    return len(rows), len(messages)


def apply(conn: Conn, events: Sequence[Event], *, match_orphans: bool = True) -> Applied:
    """Record a batch of transport events in few statements, safe inside a psycopg pipeline: nothing is read
    back until every statement is queued (one round trip, then the caller's commit).

    Segments first (accepted, refused, unknown, not sent, late accepted, early receipts kept earlier that the
    batch's accepts now match, the batch's receipts), then the messages, which see every segment written before
    them: sent when every part is sent or delivered, delivered when every part is, failed when a receipt of
    this batch failed a part. ``match_orphans=False`` skips the early receipts kept earlier (the worker knows
    there are none).
    """
    out = Applied()
    accepted = [e for e in events if isinstance(e, Accepted)]
    if accepted:
        _accepted_segments(conn, accepted)
        out.settled += [e.key for e in accepted]
    late: list[LateAccepted] = []
    found: list[Receipt] = []
    for e in events:
        if isinstance(e, Receipt):
            found.append(e)
        elif isinstance(e, LateAccepted):
            late.append(e)  # after the Unknown it follows, which may be in this batch
        elif isinstance(e, Rejected):
            _failed_part(conn, e.key, e.command_status)
            out.settled.append(e.key)
        elif isinstance(e, Unknown):
            _unknown_part(conn, e.key, e.reason)
            out.settled.append(e.key)
        elif isinstance(e, NotSent):
            out.settled.append(e.key)
            out.not_sent.append(e.key)
        elif isinstance(e, Incoming):
            _incoming(conn, e)
    if out.not_sent:
        _not_sent(conn, out.not_sent)
    if late:
        _late_accepted_segments(conn, late)  # not ``settled``: they left the window with their Unknown
    # Receipts that came before their part's submit_sm_resp was recorded (kept in hub.sms_receipt_orphan): the
    # parts accepted now take them. A late accept always looks (its receipt may well have come first).
    matched = [e.smpp_id for e in late] + ([e.smpp_id for e in accepted] if match_orphans else [])
    if matched:
        _match_orphans(conn, matched)
    final = _final_receipts(found, out)
    taken = _receipt_segments(conn, final) if final else None
    if accepted:
        _sent_messages(conn, [e.key[0] for e in accepted])
    if late:
        _late_sent_messages(conn, [e.key[0] for e in late])
    receipt_ids = [r.smpp_id for r in final]
    if receipt_ids or matched:
        _delivered_messages(conn, receipt_ids + matched)
    if any(receipts.FINAL[r.stat] is not None for r in final) or matched:
        _failed_messages(conn, receipt_ids + matched)
    if taken is not None:
        _orphans_and_duplicates(conn, final, taken, out)
    return out


def _accepted_segments(conn: Conn, events: list[Accepted]) -> None:
    """The batch's accepted parts become sent with the SMSC's message id (one statement)."""
    conn.execute(
        """
        update hub.sms_segment s set status = 'sent', smpp_id = a.smpp_id, bind = a.bind, acked_at = now()
        from unnest(%s::bigint[], %s::int[], %s::text[], %s::text[]) as a(message_id, seq, smpp_id, bind)
        where s.message_id = a.message_id and s.seq = a.seq and s.status in ('submitting', 'unknown')
        """,
        (
            [e.key[0] for e in events],
            [e.key[1] for e in events],
            [e.smpp_id for e in events],
            [e.bind for e in events],
        ),
    )


def _sent_messages(conn: Conn, message_ids: list[int]) -> None:
    """Each message of the batch whose every segment is now sent or delivered becomes sent. A separate statement
    sees the segment statements' rows; a CTE would not, and checking the batch's own rows through a CTE costs
    batch size × batch size."""
    conn.execute(
        """
        update hub.sms_message m set status = 'sent', sent_at = now(), updated_at = now()
        where m.id = any(%s) and m.status in ('queued', 'unknown')
          and not exists (
            select 1 from hub.sms_segment s where s.message_id = m.id and s.status not in ('sent', 'delivered'))
        """,
        (sorted(set(message_ids)),),
    )


def _late_accepted_segments(conn: Conn, events: list[LateAccepted]) -> None:
    """A part reported unknown was accepted after all: it becomes sent with the SMSC's message id. Only a part
    still 'unknown' is touched (one resent since is a new submit in its own state)."""
    conn.execute(
        """
        update hub.sms_segment s set status = 'sent', smpp_id = a.smpp_id, bind = a.bind, acked_at = now()
        from unnest(%s::bigint[], %s::int[], %s::text[], %s::text[]) as a(message_id, seq, smpp_id, bind)
        where s.message_id = a.message_id and s.seq = a.seq and s.status = 'unknown' and s.smpp_id is null
        """,
        (
            [e.key[0] for e in events],
            [e.key[1] for e in events],
            [e.smpp_id for e in events],
            [e.bind for e in events],
        ),
    )


def _late_sent_messages(conn: Conn, message_ids: list[int]) -> None:
    """An unknown message whose parts are all sent or delivered after a late accept becomes sent."""
    conn.execute(
        """
        update hub.sms_message m set status = 'sent', sent_at = coalesce(m.sent_at, now()), failure_reason = null,
            updated_at = now()
        where m.id = any(%s) and m.status = 'unknown'
          and not exists (
            select 1 from hub.sms_segment s where s.message_id = m.id and s.status not in ('sent', 'delivered'))
        """,
        (sorted(set(message_ids)),),
    )


def fail_message(conn: Conn, message_id: int, kind: FailureKind, reason: str) -> None:
    conn.execute(
        "update hub.sms_message set status = 'failed', failure_kind = %s, failure_reason = %s, failed_at = now(), "
        "updated_at = now() where id = %s and status <> 'failed'",
        (kind.value, reason, message_id),
    )


def _failed_part(conn: Conn, key: PartKey, command_status: int) -> None:
    conn.execute(
        "update hub.sms_segment set status = 'failed', command_status = %s, acked_at = now() "
        "where message_id = %s and seq = %s",
        (command_status, *key),
    )
    kind = FailureKind.PERMANENT if command_status in _PERMANENT_STATUSES else FailureKind.TECHNICAL
    fail_message(conn, key[0], kind, f"submit_sm_resp 0x{command_status:08x}")


def _unknown_part(conn: Conn, key: PartKey, reason: str) -> None:
    conn.execute(
        "update hub.sms_segment set status = 'unknown' where message_id = %s and seq = %s and status = 'submitting'",
        key,
    )
    conn.execute(
        "update hub.sms_message set status = 'unknown', failure_reason = %s, updated_at = now() "
        "where id = %s and status in ('queued', 'sent')",
        (reason, key[0]),
    )


def _not_sent(conn: Conn, keys: list[PartKey]) -> None:
    """Parts that never left the hub (the transport stopped first): a message none of whose parts left goes
    back to the queue as if never taken; one whose other parts did leave was cut and fails. The transport
    reports every part of a message it did not begin in one batch, so a whole message is judged at once."""
    conn.execute(
        """
        delete from hub.sms_segment s using unnest(%s::bigint[], %s::int[]) as k(message_id, seq)
        where s.message_id = k.message_id and s.seq = k.seq and s.status = 'submitting'
        """,
        ([k[0] for k in keys], [k[1] for k in keys]),
    )
    ids = sorted({k[0] for k in keys})
    conn.execute(
        """
        update hub.sms_message m set status = 'created', queued_at = null, updated_at = now()
        where m.id = any(%s) and m.status = 'queued'
          and not exists (select 1 from hub.sms_segment s where s.message_id = m.id)
        """,
        (ids,),
    )
    conn.execute(
        """
        update hub.sms_message m set status = 'failed', failure_kind = %s, failure_reason = %s, failed_at = now(),
            updated_at = now()
        where m.id = any(%s) and m.status <> 'failed'
          and exists (select 1 from hub.sms_segment s where s.message_id = m.id)
        """,
        (FailureKind.TECHNICAL.value, "interrupted between segments", ids),
    )


def _incoming(conn: Conn, event: Incoming) -> None:
    if event.text.strip().upper() in OPT_OUT_WORDS:
        conn.execute(
            "insert into hub.sms_opt_out_bidx (recipient_bidx, source) values (%s, 'reply') on conflict do nothing",
            (sealed.number_index(sealed.for_writing(conn), event.source),),
        )


def _final_receipts(found: list[Receipt], out: Applied) -> list[Receipt]:
    """The batch's final receipts, one per SMSC message id (the others counted as duplicates)."""
    final = [r for r in found if receipts.is_final(r.stat)]
    out.receipts += len(final)
    unique = list({r.smpp_id: r for r in final}.values())
    out.duplicate_receipts += len(final) - len(unique)
    return unique


# A failed receipt's stat to the failure kind of its message (receipts.FINAL), in SQL.
_FAILURE_KIND = (
    "case s.receipt_stat "
    + " ".join(f"when '{stat}' then '{kind.value}'" for stat, kind in receipts.FINAL.items() if kind is not None)
    + " end"
)


def _receipt_segments(conn: Conn, final: list[Receipt]) -> psycopg.Cursor[Any]:
    """The segments take their receipt (``receipt_at = now()``, the transaction's time, marks the ones taken in
    this transaction); returns the cursor whose rows are the SMSC message ids taken (read after every other
    statement is queued). ``s.smpp_id = any(ids)`` keeps the segments read through their index whatever the
    table's (possibly stale) statistics make of the join with the batch."""
    ids = [r.smpp_id for r in final]
    return conn.execute(
        """
        update hub.sms_segment s
        set status = case when r.stat = 'DELIVRD' then 'delivered' else 'failed' end,
            receipt_stat = r.stat, receipt_error = r.err, receipt_at = now()
        from unnest(%s::text[], %s::text[], %s::text[]) as r(smpp_id, stat, err)
        where s.smpp_id = any(%s) and s.smpp_id = r.smpp_id and s.receipt_at is null
        returning s.smpp_id
        """,
        (ids, [r.stat for r in final], [r.error for r in final], ids),
    )


def _delivered_messages(conn: Conn, smpp_ids: list[str]) -> None:
    """A message with a part delivered in this transaction whose every part is delivered becomes delivered."""
    conn.execute(
        """
        update hub.sms_message m set status = 'delivered', delivered_at = now(), updated_at = now()
        where m.id in (
            select s.message_id from hub.sms_segment s
            where s.smpp_id = any(%s) and s.status = 'delivered' and s.receipt_at = now())
          and m.status in ('queued', 'sent', 'unknown')
          and not exists (select 1 from hub.sms_segment s where s.message_id = m.id and s.status <> 'delivered')
        """,
        (smpp_ids,),
    )


def _failed_messages(conn: Conn, smpp_ids: list[str]) -> None:
    """A message with a part failed by a receipt in this transaction fails (the kind from its first such part)."""
    conn.execute(
        f"""
        update hub.sms_message m set status = 'failed', failure_kind = bad.kind,
            failure_reason = 'receipt ' || bad.stat, failed_at = now(), updated_at = now()
        from (
            select distinct on (s.message_id) s.message_id, s.receipt_stat as stat, {_FAILURE_KIND} as kind
            from hub.sms_segment s
            where s.smpp_id = any(%s) and s.status = 'failed' and s.receipt_at = now()
            order by s.message_id, s.seq
        ) bad
        where m.id = bad.message_id and m.status <> 'failed'
        """,
        (smpp_ids,),
    )


def _orphans_and_duplicates(conn: Conn, final: list[Receipt], taken: psycopg.Cursor[Any], out: Applied) -> None:
    """The receipts the segment update did not take (``taken`` returns the SMSC message ids it took): duplicates
    of one taken before, or early/unknown ones kept in hub.sms_receipt_orphan."""
    matched = {str(r[0]) for r in taken.fetchall()}
    rest = [r for r in final if r.smpp_id not in matched]
    if rest:
        seen = conn.execute(
            "select distinct smpp_id from hub.sms_segment where smpp_id = any(%s)", ([r.smpp_id for r in rest],)
        ).fetchall()
        known = {str(r[0]) for r in seen}
        out.duplicate_receipts += sum(1 for r in rest if r.smpp_id in known)
        orphans = [r for r in rest if r.smpp_id not in known]
        if orphans:
            # Early (its submit_sm_resp not applied yet), or not ours: kept to be matched later.
            out.orphan_receipts += len(orphans)
            log.info("%d receipts match no segment yet, e.g. id %s", len(orphans), orphans[0].smpp_id[:32])
            conn.execute(
                "insert into hub.sms_receipt_orphan (smpp_id, stat, error) "
                "select * from unnest(%s::text[], %s::text[], %s::text[])",
                ([r.smpp_id for r in orphans], [r.stat for r in orphans], [r.error for r in orphans]),
            )


def _match_orphans(conn: Conn, smpp_ids: list[str]) -> None:
    """Early receipts kept for the parts accepted now are taken by their segments, in one statement (the final
    ones; a later statement derives the messages' states). A segment that has its receipt already keeps it."""
    conn.execute(
        f"""
        with o as (
            update hub.sms_receipt_orphan set matched_at = now()
            where smpp_id = any(%s) and matched_at is null
            returning smpp_id, stat, error
        ),
        r as (
            select distinct on (smpp_id) smpp_id, stat, error from o
            where stat in ({", ".join(f"'{stat}'" for stat in receipts.FINAL)})
            order by smpp_id
        )
        update hub.sms_segment s
        set status = case when r.stat = 'DELIVRD' then 'delivered' else 'failed' end,
            receipt_stat = r.stat, receipt_error = r.error, receipt_at = now()
        from r
        where s.smpp_id = any(%s) and s.smpp_id = r.smpp_id and s.receipt_at is null
        """,
        (smpp_ids, smpp_ids),
    )
