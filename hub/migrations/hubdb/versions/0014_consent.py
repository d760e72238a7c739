"""Hall counter and agent-desk consent: the grants that let one staff account read one person for a while.

Revision ID: 0014_consent
Revises: 0003_identity
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0014_consent"
down_revision = "0003_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.consent_grant (
            id text primary key,
            staff_account text not null,        -- the one staff account the consent is for
            person_id bigint not null,          -- core AAC001 of the person who consented
            basis text not null check (basis in ('sms', 'written')),
            ticket text unique,                 -- sms: the verification ticket redeemed (one grant per code)
            authorisation_number text,          -- written: the number of the signed authorisation document
            agent_document_type text,           -- written: the agent's ID type (AAC058)
            agent_document_hash text,           -- written: keyed hash of the agent's ID number, never the number
            agent_document_masked text,         -- written: the agent's ID number masked (110***********1234)
            granted_at timestamptz not null,
            expires_at timestamptz not null,
            check (expires_at > granted_at),
            check (basis <> 'sms' or ticket is not null),
            check (basis <> 'written' or (authorisation_number is not null and agent_document_hash is not null))
        )
        """
    )
    op.execute("create index consent_grant_lookup on hub.consent_grant (staff_account, person_id, expires_at)")


def downgrade() -> None:
    op.execute("drop table hub.consent_grant")
