"""Identity: query PINs (查询密码) of persons, and the grant each authorization code was redeemed into.

Revision ID: 0006_identity_pins
Revises: 0003_identity
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0006_identity_pins"
down_revision = "0003_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.person_pin (
            account_id text primary key references hub.account on delete cascade,
            pin_hash text not null,          -- argon2id of the 6-digit query PIN
            set_at timestamptz not null
        )
        """
    )
    # RFC 6749 §4.1.2: a code redeemed twice revokes the tokens issued from it, so remember which grant.
    op.execute("alter table hub.oauth_code add column grant_id text references hub.oauth_grant on delete set null")
    op.execute("alter table hub.oauth_code add column replayed_at timestamptz")


def downgrade() -> None:
    op.execute("alter table hub.oauth_code drop column replayed_at")
    op.execute("alter table hub.oauth_code drop column grant_id")
    op.execute("drop table hub.person_pin")
