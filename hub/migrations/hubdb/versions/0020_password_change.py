"""Forced password change: an administrator-issued (temporary) password must be changed at the first login
and stops working after a configurable number of days (``HUB_AUTH__TEMPORARY_PASSWORD_DAYS``).

Expand only: two columns with safe defaults; the previous release ignores them.

Revision ID: 0020_password_change
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0020_password_change"
down_revision = "0001"
branch_labels = ("password_change",)
depends_on = ("0019_account_phone_enc",)  # which depends on 0003_identity (listing both can break alembic)


def upgrade() -> None:
    op.execute(
        "alter table hub.account "
        "add column password_must_change boolean not null default false, "
        "add column password_expires_at timestamptz"
    )


def downgrade() -> None:
    op.execute("alter table hub.account drop column password_must_change, drop column password_expires_at")
