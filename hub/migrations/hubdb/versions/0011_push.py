"""Unified push: preferences, one notice per source key, and the facts the sync watcher last saw.

Revision ID: 0011_push
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0011_push"
down_revision = "0001"
branch_labels = ("push",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.push_preference (
            person_id bigint primary key,
            routes jsonb not null default '{}',      -- message kind -> app | sms | both | none
            quiet_start time,
            quiet_end time,
            updated_at timestamptz not null
        )
        """
    )
    op.execute(
        """
        create table hub.push_notice (
            id bigserial primary key,
            source_key text not null unique,         -- the event or fact change that caused it
            person_id bigint not null,
            kind text not null,
            urgency text not null,
            title text not null,
            app_message_id bigint,
            sms_template text,
            personalisation jsonb,
            sms_phone text,                          -- only while an SMS is held; cleared once queued
            sms_due_at timestamptz,
            sms_message_id bigint,
            mandatory boolean not null default false,
            created_at timestamptz not null
        )
        """
    )
    op.execute(
        "create index push_notice_held on hub.push_notice (sms_due_at) "
        "where sms_message_id is null and sms_due_at is not null"
    )
    op.execute(
        """
        create table hub.push_fact (
            person_id bigint not null,
            fact text not null,                      -- 'card_status', 'last_payment'
            value text not null,
            seen_at timestamptz not null,
            primary key (person_id, fact)
        )
        """
    )
    op.execute("create table hub.push_cursor (name text primary key, last_event_id bigint not null)")


def downgrade() -> None:
    op.execute("drop table hub.push_cursor, hub.push_fact, hub.push_notice, hub.push_preference")
