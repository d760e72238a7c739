"""SMS: autovacuum the message and segment tables early (every state change leaves a dead row version).

A message is written three to four times on its way (claimed, sent, delivered) and each of its segments as
often, none of them as a HOT update (the status is in partial-index predicates). With the default scale
factor (20% of the table) a table of millions of rows collects hundreds of thousands of dead versions
before autovacuum starts, and the receipt and outcome statements slow down with them: the
1,000,000-recipient benchmark ran at 641 submits/s without vacuum and at 2,630/s with a vacuum every
minute (bench/README.md). Vacuum after 10,000 dead rows plus 1% of the table instead.

Revision ID: 0008_sms_autovacuum
Revises: 0002_sms
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0008_sms_autovacuum"
down_revision = "0002_sms"
branch_labels = None
depends_on = None

TABLES = ("sms_message", "sms_segment", "sms_receipt_orphan")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"alter table hub.{table} set (autovacuum_vacuum_threshold = 10000, "
            "autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_threshold = 10000, "
            "autovacuum_analyze_scale_factor = 0.01)"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(
            f"alter table hub.{table} reset (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor, "
            "autovacuum_analyze_threshold, autovacuum_analyze_scale_factor)"
        )
