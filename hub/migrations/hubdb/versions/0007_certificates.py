"""Certificates: what each issued certificate states (masked) until it expires, and the signing identity.

Revision ID: 0007_certificates
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007_certificates"
down_revision = "0001"
branch_labels = ("certificates",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.certificate (
            id text primary key,                 -- 证明编号, random (not a counter)
            kind text not null check (kind in ('person', 'statement', 'unit')),
            subject text not null,               -- person:<internal id> or unit:<internal id>
            code_key bytea not null unique,      -- SM3 of the verification code (the code itself is not stored)
            content_digest bytea not null,       -- SM3 of the full content; the code is a MAC over it
            masked jsonb not null,               -- what the verification page shows
            masked_mac bytea not null,           -- HMAC-SM3 of the masked copy, so an edited row is refused
            issued_at timestamptz not null,
            expires_at timestamptz not null,
            signer_key_id text not null,
            check (expires_at > issued_at)
        )
        """
    )
    op.execute("create index certificate_expires on hub.certificate (expires_at)")
    op.execute("create index certificate_subject on hub.certificate (subject, issued_at)")
    op.execute(
        """
        create table hub.certificate_signer (
            key_id text primary key,
            created_at timestamptz not null,
            certificate_der bytea not null,
            private_key bytea not null,          -- PKCS#8, sealed with the key-encryption key
            retired_at timestamptz
        )
        """
    )


def downgrade() -> None:
    op.execute("drop table hub.certificate_signer")
    op.execute("drop table hub.certificate")
