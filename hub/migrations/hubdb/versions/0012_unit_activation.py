"""Unit activation codes issued at a counter, and the deadline reminders sent to unit contacts.

Revision ID: 0012_unit_activation
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0012_unit_activation"
down_revision = "0001"
branch_labels = ("unit_activation",)
depends_on = None


def upgrade() -> None:
    # A counter code is stored only as an HMAC; single use (used_at), expiring, with a check budget.
    # (Codes sent by SMS live in hub.verification_code like every other SMS code.)
    op.execute(
        """
        create table hub.unit_activation_code (
            id bigserial primary key,
            unit_id bigint not null,
            code_hmac text not null,
            issued_by text not null,
            created_at timestamptz not null,
            expires_at timestamptz not null,
            checks integer not null default 0,
            used_at timestamptz,
            revoked_at timestamptz
        )
        """
    )
    op.execute(
        "create index unit_activation_code_live on hub.unit_activation_code (unit_id) "
        "where used_at is null and revoked_at is null"
    )
    # One reminder per unit, kind and window: the primary key makes a repeated run send nothing.
    op.execute(
        """
        create table hub.unit_reminder (
            unit_id bigint not null,
            kind text not null,
            window_key text not null,
            sent_at timestamptz not null,
            message_id bigint,
            primary key (unit_id, kind, window_key)
        )
        """
    )


def downgrade() -> None:
    op.execute("drop table hub.unit_reminder")
    op.execute("drop table hub.unit_activation_code")
