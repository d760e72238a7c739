"""The account phone (where SMS codes go) as an SM4-GCM envelope and an HMAC-SM3 blind index.

Expand only: ``hub.account.phone`` stays for the previous release during a rolling deploy; the new code
writes and reads only ``phone_enc`` / ``phone_bidx``, and the data step (``seal_plaintext``, run at web
start and by ``hub keys seal``) encrypts the old values and sets ``phone`` to null.

Revision ID: 0019_account_phone_enc
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0019_account_phone_enc"
down_revision = "0001"
branch_labels = ("account_crypto",)
depends_on = ("0003_identity", "0010_crypto")


def upgrade() -> None:
    op.execute("alter table hub.account add column phone_enc bytea, add column phone_bidx bytea")
    op.execute("create index account_phone_bidx on hub.account (phone_bidx) where phone_bidx is not null")


def downgrade() -> None:
    op.execute("alter table hub.account drop column phone_enc, drop column phone_bidx")
