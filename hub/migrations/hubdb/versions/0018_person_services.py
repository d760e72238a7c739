"""Person services: 待遇资格认证 records, 养老保险关系转移接续 applications and 权益记录核查 objections.

Revision ID: 0018_person_services
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0018_person_services"
down_revision = "0001"
branch_labels = ("person_services",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table hub.eligibility_certification (
            id bigserial primary key,
            person_id bigint not null,            -- core AAC001 of the retiree
            region_code text not null,            -- the retiree's 统筹区 when certified
            certified_on date not null,           -- the day (Asia/Shanghai) the cycle restarts from
            certified_at timestamptz not null,
            channel text not null check (channel in ('hall', 'kiosk', 'identity_check')),
            staff_account text,                   -- hall: the staff member who checked the ID card
            device_client text,                   -- kiosk: the kiosk's client id
            provider text,                        -- identity_check: the hook's provider name
            reference text not null,              -- hook reference, or a generated one
            check (channel <> 'hall' or staff_account is not null),
            check (channel <> 'kiosk' or device_client is not null),
            check (channel <> 'identity_check' or provider is not null)
        )
        """
    )
    op.execute(
        "create index eligibility_certification_person on hub.eligibility_certification (person_id, certified_on desc)"
    )
    op.execute(
        """
        create table hub.person_transfer (
            id bigserial primary key,
            reference text not null unique,
            person_id bigint not null,
            region_code text not null,            -- the person's 统筹区: the agency that handles it
            direction text not null check (direction in ('in', 'out')),
            other_region_code text not null,      -- GB/T 2260 code of the other side
            other_region_name text not null,
            other_scheme text not null,           -- AAE140 of the other side (120 or 110)
            other_agency text not null,           -- the other side's 经办机构
            reason text not null,
            contact_phone text not null,
            status text not null check (status in
                ('applied', 'accepted', 'letter', 'transferring', 'completed', 'refused')),
            refusal_reason text,
            created_at timestamptz not null,
            updated_at timestamptz not null,
            check (status <> 'refused' or refusal_reason is not null)
        )
        """
    )
    op.execute("create index person_transfer_person on hub.person_transfer (person_id, created_at desc)")
    op.execute("create index person_transfer_region on hub.person_transfer (region_code, status)")
    op.execute(
        """
        create table hub.person_transfer_event (
            id bigserial primary key,
            transfer_id bigint not null references hub.person_transfer (id),
            status text not null,
            note text,
            actor_kind text not null,
            actor text not null,
            at timestamptz not null
        )
        """
    )
    op.execute("create index person_transfer_event_transfer on hub.person_transfer_event (transfer_id, id)")
    op.execute(
        """
        create table hub.record_objection (
            id bigserial primary key,
            reference text not null unique,
            person_id bigint not null,
            region_code text not null,
            target text not null check (target in ('contribution', 'account')),
            year int not null,
            month int check (month between 1 and 12),
            insurance text,                       -- contribution: AAE140
            account text,                         -- account: BASIC or ANNUITY
            statement text not null,
            status text not null check (status in ('submitted', 'accepted', 'corrected', 'rejected')),
            answer text,
            answered_by text,
            answered_at timestamptz,
            corrected_at timestamptz,
            created_at timestamptz not null,
            check (target <> 'contribution' or (month is not null and insurance is not null)),
            check (target <> 'account' or account is not null),
            check (status <> 'rejected' or answer is not null)
        )
        """
    )
    op.execute("create index record_objection_person on hub.record_objection (person_id, created_at desc)")
    op.execute("create index record_objection_region on hub.record_objection (region_code, status)")
    op.execute(
        """
        create table hub.record_objection_file (
            id bigserial primary key,
            objection_id bigint not null references hub.record_objection (id),
            filename text not null,
            content_type text not null,
            size int not null,
            sha256 text not null,
            data bytea not null
        )
        """
    )
    op.execute("create index record_objection_file_objection on hub.record_objection_file (objection_id)")


def downgrade() -> None:
    for table in (
        "record_objection_file",
        "record_objection",
        "person_transfer_event",
        "person_transfer",
        "eligibility_certification",
    ):
        op.execute(f"drop table hub.{table}")
