"""Person-originated requests sent to the core: 联系方式变更, 社保卡挂失/解挂, phone recovery at a counter or
kiosk. One row is both the request the person follows (办理进度) and its command for the core.

Revision ID: 0017_person_requests
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0017_person_requests"
down_revision = "0001"
branch_labels = ("person_requests",)
depends_on = None

TYPES = "'contact_change', 'card_loss', 'card_unloss', 'phone_recovery'"
STATUSES = "'submitted', 'sent', 'applied', 'failed'"


def upgrade() -> None:
    op.execute(
        f"""
        create table hub.person_request (
            id bigserial primary key,
            reference text not null unique,
            person_id bigint not null,              -- core AAC001
            type text not null check (type in ({TYPES})),
            payload jsonb not null,
            status text not null check (status in ({STATUSES})),
            idempotency_key text not null,
            channel text not null,
            actor_kind text not null,               -- person, or staff at a hall counter
            actor text not null,                    -- account id of whoever submitted it
            evidence jsonb not null default '{{}}'::jsonb,  -- how the person was identified (recovery)
            command_id uuid not null unique,
            attempts integer not null default 0,
            next_attempt_at timestamptz not null default now(),  -- also the lease of a claimed command
            last_error text,
            reason text,                            -- the core's reason of a failure
            core_position text,
            core_result jsonb,
            created_at timestamptz not null,
            updated_at timestamptz not null,
            finished_at timestamptz,
            unique (person_id, idempotency_key)
        )
        """
    )
    op.execute("create index person_request_person on hub.person_request (person_id, id desc)")
    op.execute(
        "create index person_request_due on hub.person_request (next_attempt_at) where status in ('submitted', 'sent')"
    )
    op.execute(
        f"""
        create table hub.person_request_event (
            id bigserial primary key,
            request_id bigint not null references hub.person_request (id),
            at timestamptz not null,
            from_status text check (from_status in ({STATUSES})),
            to_status text not null check (to_status in ({STATUSES})),
            actor_kind text not null,
            actor text not null,
            reason text
        )
        """
    )
    op.execute("create index person_request_event_request on hub.person_request_event (request_id, id)")


def downgrade() -> None:
    op.execute("drop table if exists hub.person_request_event")
    op.execute("drop table if exists hub.person_request")
