"""SMS outbox: messages stored before sending.

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


def upgrade() -> None:
    op.execute(
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
            status text not null default 'created'
        )
        """
    )
    op.execute("create index sms_message_queue on hub.sms_message (priority, id) where status = 'created'")


def downgrade() -> None:
    op.execute("drop table hub.sms_message")
