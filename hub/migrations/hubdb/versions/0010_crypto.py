"""Encryption at rest: the SM4 data keys and the blind-index key, wrapped under the key-encryption key.

Revision ID: 0010_crypto
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0010_crypto"
down_revision = "0001"
branch_labels = ("crypto",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.crypto_key (
            key_id serial primary key,
            purpose text not null check (purpose in ('data', 'index')),
            wrapped bytea not null,           -- SM4-GCM under the KEK, bound to (key_id, purpose)
            kek_fingerprint text not null,    -- which KEK wrapped it (never the KEK itself)
            active boolean not null default false,
            created_at timestamptz not null,
            retired_at timestamptz
        )
        """
    )
    op.execute("create unique index crypto_key_one_active on hub.crypto_key (purpose) where active")
    op.execute("create unique index crypto_key_one_index on hub.crypto_key (purpose) where purpose = 'index'")


def downgrade() -> None:
    op.execute("drop table hub.crypto_key")
