"""Audit archive: records past the retention period move to an append-only archive table, never deleted.

The append-only trigger lets a row leave ``hub.audit_log`` only inside an archiving transaction (the
session setting ``hub.audit_archive``) and only when an identical copy is already in the archive.

Revision ID: 0013_audit_archive
Revises: 0004_audit
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0013_audit_archive"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create table hub.audit_log_archive (like hub.audit_log including all)")
    op.execute(
        "create trigger audit_log_archive_no_change before update or delete on hub.audit_log_archive "
        "for each row execute function hub.audit_append_only()"
    )
    op.execute(
        "create trigger audit_log_archive_no_truncate before truncate on hub.audit_log_archive "
        "for each statement execute function hub.audit_append_only()"
    )
    op.execute(
        """
        create function hub.audit_archive_only() returns trigger language plpgsql as $$
        begin
            if tg_op = 'DELETE' and current_setting('hub.audit_archive', true) = 'on' and exists (
                select 1 from hub.audit_log_archive a
                where a.chain_id = old.chain_id and a.seq = old.seq and a.hash = old.hash
            ) then
                return old;
            end if;
            raise exception 'audit records are append-only';
        end $$
        """
    )
    # The live log's update/delete trigger now admits exactly the archiving move.
    op.execute(
        "create trigger audit_log_archive_move before delete on hub.audit_log "
        "for each row execute function hub.audit_archive_only()"
    )
    op.execute("alter table hub.audit_log disable trigger audit_log_no_change")
    op.execute(
        "create trigger audit_log_no_update before update on hub.audit_log "
        "for each row execute function hub.audit_append_only()"
    )


def downgrade() -> None:
    op.execute("drop trigger audit_log_no_update on hub.audit_log")
    op.execute("alter table hub.audit_log enable trigger audit_log_no_change")
    op.execute("drop trigger audit_log_archive_move on hub.audit_log")
    op.execute("drop function hub.audit_archive_only()")
    op.execute("drop table hub.audit_log_archive")
