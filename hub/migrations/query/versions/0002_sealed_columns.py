"""Encrypted personal numbers in the read models: envelopes and blind indexes, and the store's own keys.

Expand only: ``id_number``, ``phone``, ``contact_phone`` and ``bank_account`` stay (the running code of
the previous release still reads them during a rolling deploy) but the new code neither writes nor reads
them; the data step (``seal_plaintext``, run by the sync worker when it starts and by ``hub keys seal``)
encrypts what they hold and sets them to null. Dropping them is a later contract migration.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEALED = {
    "person_overview": ("id_number", "phone"),
    "unit_overview": ("contact_phone", "bank_account"),
}


def upgrade() -> None:
    op.execute(
        """
        create table public.crypto_key (
            key_id serial primary key,
            purpose text not null check (purpose in ('data', 'index')),
            wrapped bytea not null,           -- SM4-GCM under the KEK, bound to (table, key_id, purpose)
            kek_fingerprint text not null,    -- which KEK wrapped it (never the KEK itself)
            active boolean not null default false,
            created_at timestamptz not null,
            retired_at timestamptz
        )
        """
    )
    op.execute("create unique index crypto_key_one_active on public.crypto_key (purpose) where active")
    op.execute("create unique index crypto_key_one_index on public.crypto_key (purpose) where purpose = 'index'")
    for table, names in SEALED.items():
        for name in names:
            op.execute(f"alter table {table} add column {name}_enc bytea, add column {name}_bidx bytea")
    # Lookups by ID number and by phone go through the blind index.
    op.execute("create index person_overview_id_number_bidx on person_overview (id_number_bidx)")
    op.execute("create index person_overview_phone_bidx on person_overview (phone_bidx)")


def downgrade() -> None:
    for table, names in SEALED.items():
        for name in names:
            op.execute(f"alter table {table} drop column {name}_enc, drop column {name}_bidx")
    op.execute("drop table public.crypto_key")
