"""Audit log: append-only, hash-chained (SM3) records, one chain per web process, signed anchors apart.

Revision ID: 0004_audit
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004_audit"
down_revision = "0001"
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.audit_chain (
            chain_id text primary key,
            started_at timestamptz not null default now(),
            host text not null
        )
        """
    )
    op.execute(
        """
        create table hub.audit_log (
            chain_id text not null references hub.audit_chain,
            seq bigint not null,
            at timestamptz not null,
            request_id text not null,
            actor_kind text not null,
            actor text not null,
            client_id text not null,
            channel text not null,
            action text not null,
            target_type text not null,
            target_id text not null,
            purpose text not null,
            result text not null,
            ip text,
            prev_hash bytea not null,
            hash bytea not null,
            primary key (chain_id, seq)
        )
        """
    )
    op.execute("create index audit_log_at on hub.audit_log (at)")
    op.execute("create index audit_log_target on hub.audit_log (target_type, target_id, at)")
    # Anchors: the head of a chain signed at intervals, in their own table (ship it elsewhere as well).
    op.execute(
        """
        create table hub.audit_anchor (
            chain_id text not null,
            seq bigint not null,
            hash bytea not null,
            signed_at timestamptz not null,
            key_id text not null,
            signature bytea not null,
            primary key (chain_id, seq)
        )
        """
    )
    # Append only: no update, delete or truncate through the application's role paths.
    op.execute(
        """
        create function hub.audit_append_only() returns trigger language plpgsql as $$
        begin
            raise exception 'audit records are append-only';
        end $$
        """
    )
    for table in ("audit_log", "audit_anchor"):
        op.execute(
            f"create trigger {table}_no_change before update or delete on hub.{table} "
            "for each row execute function hub.audit_append_only()"
        )
        op.execute(
            f"create trigger {table}_no_truncate before truncate on hub.{table} "
            "for each statement execute function hub.audit_append_only()"
        )


def downgrade() -> None:
    op.execute("drop table hub.audit_anchor")
    op.execute("drop table hub.audit_log")
    op.execute("drop table hub.audit_chain")
    op.execute("drop function hub.audit_append_only()")
