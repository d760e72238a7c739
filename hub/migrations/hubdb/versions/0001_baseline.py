"""Baseline of the hub OLTP database: the schema the later issues grow (accounts, declarations, outbox).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create schema if not exists hub")


def downgrade() -> None:
    op.execute("drop schema if exists hub cascade")
