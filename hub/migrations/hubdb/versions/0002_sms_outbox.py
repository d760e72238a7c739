"""SMS platform: messages stored before sending, segments with SMPP ids, receipts, jobs, limits.

Revision ID: 0002_sms
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002_sms"
down_revision = "0001"
branch_labels = ("sms",)
depends_on = None

STATEMENTS = (
    """
    create table hub.sms_job (
        id bigserial primary key,
        kind text not null check (kind in ('rights_statement', 'notice')),
        title text not null,
        template text not null,
        purpose text not null,
        mandatory boolean not null default true,
        source text not null check (source in ('query', 'upload')),
        status text not null default 'draft'
            check (status in ('draft', 'approved', 'running', 'paused', 'done', 'cancelled')),
        unknown_policy text not null default 'hold' check (unknown_policy in ('hold', 'resend')),
        rate_per_second double precision,
        recipients integer not null default 0,
        segments integer not null default 0,
        cost_estimate numeric(14, 4) not null default 0,
        created_by text not null,
        approved_by text,
        created_at timestamptz not null default now(),
        approved_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        check (approved_by is null or approved_by <> created_by)
    )
    """,
    """
    create table hub.sms_message (
        id bigserial primary key,
        created_at timestamptz not null default now(),
        recipient text not null,
        template text not null,
        personalisation jsonb not null,
        priority smallint not null,
        purpose text not null,
        reference text,
        requester_ip inet,
        mandatory boolean not null default true,
        job_id bigint references hub.sms_job (id),
        status text not null default 'created'
            check (status in ('created', 'queued', 'sent', 'delivered', 'failed', 'unknown')),
        failure_kind text check (failure_kind in ('permanent', 'temporary', 'technical')),
        failure_reason text,
        sender text,
        body text,
        segments smallint,
        cost numeric(10, 4),
        concat_ref smallint,
        queued_at timestamptz,
        sent_at timestamptz,
        delivered_at timestamptz,
        failed_at timestamptz,
        updated_at timestamptz not null default now()
    )
    """,
    "create index sms_message_queue on hub.sms_message (priority, id) where status = 'created' and job_id is null",
    "create index sms_message_job_queue on hub.sms_message (job_id, id) where status = 'created'",
    "create unique index sms_message_job_recipient on hub.sms_message (job_id, recipient) where job_id is not null",
    "create index sms_message_recipient on hub.sms_message (recipient, created_at)",
    "create index sms_message_prefix on hub.sms_message (left(recipient, -4), created_at) where job_id is null",
    "create index sms_message_ip on hub.sms_message (requester_ip, created_at) where requester_ip is not null",
    "create index sms_message_sent on hub.sms_message (sent_at) where sent_at is not null",
    "create index sms_message_open on hub.sms_message (id) where status in ('queued', 'sent')",
    """
    create table hub.sms_segment (
        message_id bigint not null references hub.sms_message (id),
        seq smallint not null,
        status text not null default 'submitting'
            check (status in ('submitting', 'sent', 'delivered', 'failed', 'unknown')),
        smpp_id text,
        bind text,
        command_status integer,
        receipt_stat text,
        receipt_error text,
        submitted_at timestamptz not null default now(),
        acked_at timestamptz,
        receipt_at timestamptz,
        primary key (message_id, seq)
    )
    """,
    "create index sms_segment_smpp_id on hub.sms_segment (smpp_id) where smpp_id is not null",
    "create index sms_segment_submitting on hub.sms_segment (message_id) where status = 'submitting'",
    """
    create table hub.sms_receipt_orphan (
        id bigserial primary key,
        received_at timestamptz not null default now(),
        smpp_id text not null,
        stat text not null,
        error text,
        matched_at timestamptz
    )
    """,
    "create index sms_receipt_orphan_open on hub.sms_receipt_orphan (smpp_id) where matched_at is null",
    """
    create table hub.sms_concat_ref (
        recipient text primary key,
        last_ref smallint not null
    )
    """,
    """
    create table hub.sms_opt_out (
        recipient text primary key,
        created_at timestamptz not null default now(),
        source text not null
    )
    """,
    """
    create table hub.sms_event (
        id bigserial primary key,
        at timestamptz not null default now(),
        kind text not null,
        detail jsonb not null
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in (
        "sms_event",
        "sms_opt_out",
        "sms_concat_ref",
        "sms_receipt_orphan",
        "sms_segment",
        "sms_message",
        "sms_job",
    ):
        op.execute(f"drop table hub.{table}")
