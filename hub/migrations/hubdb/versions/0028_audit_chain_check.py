"""Audit log: the "chain is registered" rule checked once per statement instead of once per row.

``hub.audit_log.chain_id`` referenced ``hub.audit_chain``. A foreign key is checked row by row: every record
of a group commit ran its own lookup of the same chain (about 20 µs each on the hub DB, half of what a batch
of 26 records cost the server). The rule stays, enforced by a statement-level trigger over the inserted rows
(a transition table): one lookup per distinct chain of the statement, and a statement naming an unregistered
chain fails whole with the foreign-key SQLSTATE (23503), as before. The other half of the foreign key, that a
registered chain cannot disappear or change its id while records point to it, becomes the registry's own
rule: ``hub.audit_chain`` is append-only (no update, delete or truncate), like the log and the anchors.

The trigger is in place before the constraint goes, in the same transaction, so the rule is never off. The
previous release registers its chain before its first record (``AuditLog._register``, ``sync_writer``), so its
inserts pass the trigger as they passed the constraint: nothing it does is refused.

Revision ID: 0028_audit_chain_check
Revises: 0013_audit_archive
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0028_audit_chain_check"
down_revision = "0013_audit_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create function hub.audit_chain_registered() returns trigger language plpgsql as $$
        begin
            if exists (
                select 1 from (select distinct chain_id from inserted) n
                where not exists (select 1 from hub.audit_chain c where c.chain_id = n.chain_id)
            ) then
                raise foreign_key_violation using message = 'audit record of an unregistered chain';
            end if;
            return null;
        end $$
        """
    )
    op.execute(
        "create trigger audit_log_chain_registered after insert on hub.audit_log "
        "referencing new table as inserted for each statement execute function hub.audit_chain_registered()"
    )
    op.execute(
        "create trigger audit_chain_no_change before update or delete on hub.audit_chain "
        "for each row execute function hub.audit_append_only()"
    )
    op.execute(
        "create trigger audit_chain_no_truncate before truncate on hub.audit_chain "
        "for each statement execute function hub.audit_append_only()"
    )
    op.execute("alter table hub.audit_log drop constraint audit_log_chain_id_fkey")


def downgrade() -> None:
    op.execute(
        "alter table hub.audit_log add constraint audit_log_chain_id_fkey "
        "foreign key (chain_id) references hub.audit_chain"
    )
    op.execute("drop trigger audit_chain_no_truncate on hub.audit_chain")
    op.execute("drop trigger audit_chain_no_change on hub.audit_chain")
    op.execute("drop trigger audit_log_chain_registered on hub.audit_log")
    op.execute("drop function hub.audit_chain_registered()")
