"""Declaration payloads, their core commands, person-request payloads and other personal numbers sealed at rest.

Expand only. ``hub.declaration``, ``hub.declaration_command`` and ``hub.person_request`` gain ``payload_enc``
(an SM4-GCM envelope of the JSON payload bound to the row, ``hub.crypto.payloads``); ``hub.declaration``
also gains ``summary`` (the non-sensitive facts lists and reminders use: a wage declaration's year, the
number of rows, staff and retirees). ``hub.verification_code`` gains ``binding_enc`` (a code sent to a new
number is bound to that number), ``hub.person_transfer`` ``contact_phone_enc`` and ``hub.push_notice``
``sms_phone_enc`` (the number a held SMS goes to). The old plaintext columns stay for the previous release
during a rolling deploy but may now be null: new rows leave them empty, and the data step (web start,
``hub keys seal``) seals and empties the old ones. Dropping them is left to a later contract migration.

Revision ID: 0025_sealed_payloads
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0025_sealed_payloads"
down_revision = "0001"
branch_labels = ("sealed_payloads",)
# 0015_collect follows 0005_declarations (which created hub.declaration and hub.declaration_command): listing
# both would break ``upgrade heads``.
depends_on = (
    "0015_collect",
    "0017_person_requests",
    "0010_crypto",
    "0003_identity",
    "0018_person_services",  # not 0023_objection_feed, which follows it
    "0011_push",
)


def upgrade() -> None:
    op.execute("alter table hub.declaration add column payload_enc bytea, add column summary jsonb")
    op.execute("alter table hub.declaration alter payload drop not null")
    op.execute("alter table hub.declaration_command add column payload_enc bytea")
    op.execute("alter table hub.declaration_command alter payload drop not null")
    op.execute("alter table hub.person_request add column payload_enc bytea")
    op.execute("alter table hub.person_request alter payload drop not null")
    op.execute("alter table hub.verification_code add column binding_enc bytea")
    op.execute("alter table hub.verification_code alter binding drop not null")
    op.execute("alter table hub.person_transfer add column contact_phone_enc bytea")
    op.execute("alter table hub.person_transfer alter contact_phone drop not null")
    op.execute("alter table hub.push_notice add column sms_phone_enc bytea")


def downgrade() -> None:
    op.execute("alter table hub.push_notice drop column sms_phone_enc")
    op.execute("alter table hub.person_transfer drop column contact_phone_enc")
    op.execute("alter table hub.verification_code drop column binding_enc")
    op.execute("alter table hub.person_request drop column payload_enc")
    op.execute("alter table hub.declaration_command drop column payload_enc")
    op.execute("alter table hub.declaration drop column payload_enc, drop column summary")
