"""SMS: room for HOT updates, and fewer index entries per state change of a message or a segment.

Every message is written three times on its way (claimed, sent, delivered) and each segment is inserted and
written twice (sent, delivered). None of these was a HOT update, so every write added an entry to every index
of the table, and the dead versions stayed until a vacuum (the 1,000,000-recipient broadcast, bench/README.md).

- ``sms_segment_submitting`` (the parts in flight, read by the recovery after a crash) is keyed on
  ``acked_at is null`` instead of the status: a segment's status then appears in no index, and the receipt's
  write (status, receipt_stat, receipt_error, receipt_at) becomes a HOT update. The index also holds the few
  parts left 'unknown' without an answer; the recovery reads ``acked_at is null and status = 'submitting'``.
- fillfactor 30 on ``sms_segment`` and 70 on ``sms_message``: a new version finds room on its own page (a HOT
  update needs it; a non-HOT one then touches one heap page, not two), and pruning on the page reclaims the dead
  versions between vacuums.
- ``sms_message_recipient`` and ``sms_message_job_recipient`` (the plaintext number of the previous release,
  empty for sealed rows) become partial on ``recipient is not null``: sealed rows, all rows written now, add no
  entry (a null key) to them on every write. A lookup by number implies the predicate, so their readers are
  served as before.
- ``sms_message_sent`` has no reader (no query ranges over ``sent_at``) and took an entry on two of the three
  writes of every message: dropped. ``sms_message_open`` (status 'queued' or 'sent', also two entries per
  message) is replaced by ``sms_message_queued`` on the job (status 'queued', one entry per message, at the
  claim), which is what its one reader asks: whether a running job still has messages being submitted.

Revision ID: 0026_sms_fillfactor
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0026_sms_fillfactor"
down_revision = "0001"
branch_labels = ("sms_fillfactor",)
depends_on = ("0022_sms_sealed",)
# What it drops are indexes, each replaced in the same step (or, for sms_message_sent, read by no query of any
# release): every statement of the previous release still runs, only a replaced index may serve it less well
# during a rolling deploy, and the narrowed unique index keeps the guarantee for every row that release writes
# (its recipients are never null).
contract = (
    "drops only indexes replaced in the same step or read by no query; no table or column the previous "
    "release uses is removed, and the narrowed unique index still covers every row that release writes"
)


def upgrade() -> None:
    op.execute("alter table hub.sms_segment set (fillfactor = 30)")
    op.execute("alter table hub.sms_message set (fillfactor = 70)")
    op.execute("drop index hub.sms_segment_submitting")
    op.execute("create index sms_segment_submitting on hub.sms_segment (message_id) where acked_at is null")
    op.execute("drop index hub.sms_message_recipient")
    op.execute(
        "create index sms_message_recipient on hub.sms_message (recipient, created_at) where recipient is not null"
    )
    op.execute("drop index hub.sms_message_job_recipient")
    op.execute(
        "create unique index sms_message_job_recipient on hub.sms_message (job_id, recipient) "
        "where job_id is not null and recipient is not null"
    )
    op.execute("drop index hub.sms_message_sent")
    op.execute("drop index hub.sms_message_open")
    op.execute("create index sms_message_queued on hub.sms_message (job_id) where status = 'queued'")


def downgrade() -> None:
    op.execute("drop index hub.sms_message_queued")
    op.execute("create index sms_message_open on hub.sms_message (id) where status in ('queued', 'sent')")
    op.execute("create index sms_message_sent on hub.sms_message (sent_at) where sent_at is not null")
    op.execute("drop index hub.sms_message_job_recipient")
    op.execute(
        "create unique index sms_message_job_recipient on hub.sms_message (job_id, recipient) where job_id is not null"
    )
    op.execute("drop index hub.sms_message_recipient")
    op.execute("create index sms_message_recipient on hub.sms_message (recipient, created_at)")
    op.execute("drop index hub.sms_segment_submitting")
    op.execute("create index sms_segment_submitting on hub.sms_segment (message_id) where status = 'submitting'")
    op.execute("alter table hub.sms_message reset (fillfactor)")
    op.execute("alter table hub.sms_segment reset (fillfactor)")
