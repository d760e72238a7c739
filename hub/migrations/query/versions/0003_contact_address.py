"""通讯地址 and 邮政编码 in ``person_overview`` (the core's AC01 gained them).

The address is personal data: stored sealed (``address_enc``, an SM4-GCM envelope bound to the row like the
phone's) with no blind index, since nobody looks a person up by address. The plain ``address`` column exists
only because every sealed column of the read models has one (the sync writes it as NULL and ``sync verify``
checks it stays empty); it never holds a value. The postal code is kept plain. Expand only.

Existing rows get the new columns empty; ``hub sync backfill`` (or the sync, as persons change) fills them.

Revision ID: 0003_contact_address
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0003_contact_address"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "alter table person_overview add column address text, add column address_enc bytea, add column postal_code text"
    )


def downgrade() -> None:
    op.execute("alter table person_overview drop column address, drop column address_enc, drop column postal_code")
