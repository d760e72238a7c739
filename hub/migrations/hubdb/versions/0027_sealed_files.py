"""Supporting documents sealed at rest: declaration attachments and objection evidence files.

Expand only. ``hub.declaration_attachment`` gains ``content_enc`` and ``hub.record_objection_file``
``data_enc``: an SM4-GCM envelope of the file's bytes bound to the row (``hub.crypto.files``). The old
plaintext columns stay for the previous release during a rolling deploy but may now be null: new rows leave
them empty, and the data step (web start, ``hub keys seal``) seals and empties the old ones. Dropping them is
left to a later contract migration. The digests (SHA-256, SM3) stay over the plaintext. The envelopes are
stored out of line uncompressed like the scans were (compressing ciphertext gains nothing), which also lets
``hub keys rotate`` read an envelope's key id without fetching the whole file.

Revision ID: 0027_sealed_files
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0027_sealed_files"
down_revision = "0001"
branch_labels = ("sealed_files",)
# 0018_person_services is an ancestor of 0025_sealed_payloads (which depends on it): listing both would break
# ``upgrade heads``. 0025 also brings 0010_crypto (hub.crypto_key).
depends_on = ("0025_sealed_payloads", "0016_attachments")


def upgrade() -> None:
    op.execute("alter table hub.declaration_attachment add column content_enc bytea")
    op.execute("alter table hub.declaration_attachment alter column content_enc set storage external")
    op.execute("alter table hub.declaration_attachment alter content drop not null")
    op.execute("alter table hub.record_objection_file add column data_enc bytea")
    op.execute("alter table hub.record_objection_file alter column data_enc set storage external")
    op.execute("alter table hub.record_objection_file alter data drop not null")


def downgrade() -> None:
    op.execute("alter table hub.record_objection_file drop column data_enc")
    op.execute("alter table hub.declaration_attachment drop column content_enc")
