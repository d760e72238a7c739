"""Supporting documents (scans) attached to declarations: the bytes, their digests and who attached them.

Revision ID: 0016_attachments
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0016_attachments"
down_revision = "0001"
branch_labels = ("attachments",)
depends_on = ("0005_declarations",)  # hub.declaration_attachment references hub.declaration


def upgrade() -> None:
    op.execute(
        """
        create table hub.declaration_attachment (
            id bigserial primary key,
            declaration_id bigint not null references hub.declaration (id),
            filename text not null check (length(filename) between 1 and 120),
            media_type text not null check (media_type in ('application/pdf', 'image/jpeg', 'image/png')),
            size integer not null check (size > 0),
            sha256 bytea not null check (length(sha256) = 32),
            sm3 bytea not null check (length(sm3) = 32),
            content bytea not null,
            uploaded_by text not null,
            uploaded_at timestamptz not null default now(),
            check (octet_length(content) = size)
        )
        """
    )
    # Scans are compressed already: store them out of line without trying to compress them again.
    op.execute("alter table hub.declaration_attachment alter column content set storage external")
    op.execute("create index declaration_attachment_decl on hub.declaration_attachment (declaration_id, id)")


def downgrade() -> None:
    op.execute("drop table hub.declaration_attachment")
