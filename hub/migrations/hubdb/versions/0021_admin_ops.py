"""Administration: a client status of its own, and the auditor's chain verification as a background job.

``hub.oauth_client.status`` ('active' | 'disabled', default 'active'): disabling a client no longer empties
its grant types. The rows the previous release disabled (``grant_types = '{}'``) become ``'disabled'``;
their grant types are *not* written back here: during the rolling deploy the previous release still
reads an empty ``grant_types`` as "disabled", and restoring them in this migration would re-enable those
clients on the old instances. They are derived when the security administrator enables such a client:
its channel's grant types (``hub.identity.clients.CHANNEL_GRANTS``: client credentials for kiosks, the
hotline and partners; authorization code and refresh token for the app), which is exactly what the
previous release gave a re-enabled client. Portal and hall clients are not managed from the pages (their
grant types cannot be derived from the channel); the installer registers them again.

Rolling-deploy note: a client disabled by this release while instances of the previous one still run is
refused by the new instances and by every resource server (the Redis revocation marker), but the previous
instances' token endpoint would still issue it tokens until they are replaced; disable clients after the
deploy has finished.

``hub.audit_verify_job``: one row per verification the auditor starts (state queued → running → done |
failed), the walk's position (chain, next expected sequence, previous hash) so that a worker that dies
leaves it resumable once its lease runs out, and the result (rows checked, findings, the first broken
link, the first hundred findings). At most one job is queued or running at a time (partial unique index).

Revision ID: 0021_admin_ops
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0021_admin_ops"
down_revision = "0001"
branch_labels = ("admin_ops",)
depends_on = ("0003_identity", "0013_audit_archive")  # 0013 follows 0004_audit


def upgrade() -> None:
    op.execute(
        "alter table hub.oauth_client add column status text not null default 'active' "
        "constraint oauth_client_status check (status in ('active', 'disabled'))"
    )
    op.execute("update hub.oauth_client set status = 'disabled' where cardinality(grant_types) = 0")
    op.execute(
        """
        create table hub.audit_verify_job (
            id bigint generated always as identity primary key,
            started_by text not null,
            started_at timestamptz not null,
            state text not null default 'queued'
                constraint audit_verify_job_state check (state in ('queued', 'running', 'done', 'failed')),
            rows_total bigint,
            rows_checked bigint not null default 0,
            chains_checked integer not null default 0,
            findings integer not null default 0,
            broken_chain text,
            broken_seq bigint,
            broken_kind text,
            broken_detail text,
            finding_list jsonb not null default '[]',  -- the first findings (at most 100), for the page
            -- the walk's position: the chain being walked, the next sequence expected, the previous hash,
            -- and the chain's head and last anchor when its walk began (what this job checks of it)
            cur_chain text,
            cur_expected bigint,
            cur_prev bytea,
            cur_head bigint,
            cur_anchor_bound bigint,
            lease_owner text,
            lease_until timestamptz,
            error text,
            finished_at timestamptz
        )
        """
    )
    op.execute(
        "create unique index audit_verify_job_one_active on hub.audit_verify_job ((true)) "
        "where state in ('queued', 'running')"
    )
    op.execute("create index audit_verify_job_started on hub.audit_verify_job (started_at desc)")


def downgrade() -> None:
    op.execute("drop table hub.audit_verify_job")
    op.execute("alter table hub.oauth_client drop column status")
