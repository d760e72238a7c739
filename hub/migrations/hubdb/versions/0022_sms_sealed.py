"""SMS recipients and personalisation sealed at rest; rights-statement jobs prepared by the worker.

Expand only. ``hub.sms_message`` gains the recipient's envelope and two blind indexes (the number, its prefix)
and the personalisation's envelope (``hub.messaging.sealed``); ``recipient`` and ``personalisation`` stay for
the previous release during a rolling deploy but may now be null (new rows leave them empty, the data step
empties old ones). A job's uniqueness, the per-number and per-prefix limits get indexes on the blind
indexes. The opt-out list and the concatenation counters, whose primary key was the number itself, get
tables keyed by the blind index (the old ones are emptied by the data step and dropped by a later contract
migration).

``hub.sms_job`` gains the state 'preparing' and what the worker needs to fill a rights-statement job in
resumable batches: the year and 统筹区 asked for, the last person filled in (the cursor), the persons to
fill in (counted on the first batch) and why a preparation ended without recipients.

Revision ID: 0022_sms_sealed
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0022_sms_sealed"
down_revision = "0001"
branch_labels = ("sms_sealed",)
depends_on = ("0008_sms_autovacuum", "0010_crypto")  # 0008 follows 0002_sms (listing both breaks alembic)

STATUSES = "'preparing', 'draft', 'approved', 'running', 'paused', 'done', 'cancelled'"


def upgrade() -> None:
    op.execute(
        "alter table hub.sms_message add column recipient_enc bytea, add column recipient_bidx bytea, "
        "add column recipient_pidx bytea, add column personalisation_enc bytea"
    )
    op.execute("alter table hub.sms_message alter recipient drop not null, alter personalisation drop not null")
    # A job's messages are inserted only while it is made or prepared, all 'created': the key need hold only
    # there, and a status update (never HOT here) then adds no entry to this index.
    op.execute(
        "create unique index sms_message_job_recipient_bidx on hub.sms_message (job_id, recipient_bidx) "
        "where job_id is not null and recipient_bidx is not null and status = 'created'"
    )
    op.execute(
        "create index sms_message_recipient_bidx on hub.sms_message (recipient_bidx, created_at) "
        "where job_id is null and recipient_bidx is not null"
    )
    op.execute(
        "create index sms_message_prefix_pidx on hub.sms_message (recipient_pidx, created_at) "
        "where job_id is null and recipient_pidx is not null"
    )
    op.execute(
        "create table hub.sms_opt_out_bidx (recipient_bidx bytea primary key, "
        "created_at timestamptz not null default now(), source text not null)"
    )
    op.execute("create table hub.sms_concat_ref_bidx (recipient_bidx bytea primary key, last_ref smallint not null)")
    op.execute(
        "alter table hub.sms_job add column prepare_year integer, add column prepare_regions text[], "
        "add column prepare_after bigint, add column prepare_total integer, add column prepared integer, "
        "add column prepare_note text"
    )
    op.execute("alter table hub.sms_job drop constraint if exists sms_job_status_check")
    op.execute(f"alter table hub.sms_job add constraint sms_job_status_check check (status in ({STATUSES}))")


def downgrade() -> None:
    op.execute("alter table hub.sms_job drop constraint if exists sms_job_status_check")
    op.execute(
        "alter table hub.sms_job add constraint sms_job_status_check "
        "check (status in ('draft', 'approved', 'running', 'paused', 'done', 'cancelled'))"
    )
    op.execute(
        "alter table hub.sms_job drop column prepare_year, drop column prepare_regions, drop column prepare_after, "
        "drop column prepare_total, drop column prepared, drop column prepare_note"
    )
    op.execute("drop table hub.sms_concat_ref_bidx")
    op.execute("drop table hub.sms_opt_out_bidx")
    op.execute(
        "alter table hub.sms_message drop column recipient_enc, drop column recipient_bidx, "
        "drop column recipient_pidx, drop column personalisation_enc"
    )
