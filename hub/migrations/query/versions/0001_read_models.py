"""Read models of the query store, the sync checkpoint, events and faults.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

READ_MODELS = (
    """
    create table person_overview (
        person_id bigint not null,
        id_type text,
        id_number text,
        name text,
        sex text,
        ethnicity text,
        birth_date date,
        work_start date,
        phone text,
        region_code text,
        retired boolean,
        retire_date date,
        position_level text,
        primary key (person_id)
    )
    """,
    """
    create table person_insurance (
        person_id bigint not null,
        insurance text not null,
        unit_id bigint,
        status text,
        start_date date,
        pay_status text,
        first_period integer,
        deemed_months integer,
        primary key (person_id, insurance)
    )
    """,
    """
    create table contribution_month (
        detail_id bigint not null,
        person_id bigint,
        unit_id bigint,
        insurance text,
        period integer,
        kind text,
        declared_wage numeric(14,2),
        base numeric(14,2),
        unit_amount numeric(14,2),
        personal_amount numeric(14,2),
        to_account numeric(14,2),
        real_account boolean,
        paid boolean,
        paid_on date,
        primary key (detail_id)
    )
    """,
    """
    create table account_year (
        person_id bigint not null,
        account text not null,
        year integer not null,
        opening numeric(14,2),
        credited numeric(14,2),
        interest numeric(14,2),
        closing numeric(14,2),
        rate numeric(7,4),
        primary key (person_id, account, year)
    )
    """,
    """
    create table benefit (
        person_id bigint not null,
        retire_date date,
        method text,
        monthly_total numeric(14,2),
        monthly_paid numeric(14,2),
        annuity_monthly numeric(14,2),
        approved_on date,
        primary key (person_id)
    )
    """,
    """
    create table benefit_item (
        person_id bigint not null,
        item text not null,
        amount numeric(14,2),
        primary key (person_id, item)
    )
    """,
    """
    create table benefit_payment (
        person_id bigint not null,
        period integer not null,
        amount numeric(14,2),
        paid_on date,
        primary key (person_id, period)
    )
    """,
    """
    create table card (
        person_id bigint not null,
        card_no text,
        status text,
        bank text,
        issued_on date,
        primary key (person_id)
    )
    """,
    """
    create table unit_overview (
        unit_id bigint not null,
        uscc text,
        name text,
        unit_type text,
        funding text,
        collection text,
        agency_id bigint,
        region_code text,
        status text,
        contact_name text,
        contact_phone text,
        address text,
        bank_name text,
        bank_account text,
        primary key (unit_id)
    )
    """,
    """
    create table unit_roster (
        relation_id bigint not null,
        unit_id bigint,
        person_id bigint,
        start_date date,
        end_date date,
        primary key (relation_id)
    )
    """,
    """
    create table agency (
        agency_id bigint not null,
        name text,
        region_code text,
        address text,
        phone text,
        longitude numeric(9,6),
        latitude numeric(9,6),
        opening_hours jsonb,
        primary key (agency_id)
    )
    """,
    """
    create table code_table (
        code_type text not null,
        value text not null,
        name text,
        primary key (code_type, value)
    )
    """,
    """
    create table unit_month_total (
        unit_id bigint not null,
        period integer not null,
        insurance text not null,
        rows bigint not null,
        base_total numeric(18,2) not null,
        unit_amount numeric(18,2) not null,
        person_amount numeric(18,2) not null,
        to_account numeric(18,2) not null,
        due numeric(18,2) not null,
        paid numeric(18,2) not null,
        virtual_unit numeric(18,2) not null,
        arrears numeric(18,2) generated always as (due - paid) stored,
        primary key (unit_id, period, insurance)
    )
    """,
    """
    create table rights_statement (
        person_id bigint not null,
        year integer not null,
        insurance text not null,
        rows bigint not null,
        base_total numeric(18,2) not null,
        unit_amount numeric(18,2) not null,
        person_amount numeric(18,2) not null,
        to_account numeric(18,2) not null,
        due numeric(18,2) not null,
        paid numeric(18,2) not null,
        virtual_unit numeric(18,2) not null,
        arrears numeric(18,2) generated always as (due - paid) stored,
        primary key (person_id, year, insurance)
    )
    """,
    """
    create table region_parameter (
        kind text not null,
        region_code text not null,
        param_key text not null,
        value jsonb not null,
        primary key (kind, region_code, param_key)
    )
    """,
)

INDEXES = (
    "create index contribution_month_person on contribution_month (person_id, period)",
    "create index contribution_month_unit on contribution_month (unit_id, period)",
    "create index unit_roster_unit on unit_roster (unit_id)",
    "create index unit_roster_person on unit_roster (person_id)",
    "create index person_insurance_unit on person_insurance (unit_id)",
    "create index region_parameter_region on region_parameter (region_code, kind)",
)

SYNC = (
    # One row per change feed. A round reads the changes of transactions visible in cur_snapshot and
    # not in prev_snapshot, in id order, batch by batch (last_id); see sync/feed.py.
    """
    create table sync_checkpoint (
        feed text primary key,
        prev_snapshot text not null,
        cur_snapshot text,
        last_id bigint not null default 0,
        applied_changes bigint not null default 0,
        batches bigint not null default 0,
        last_change_id bigint,
        last_change_at timestamptz,
        applied_at timestamptz
    )
    """,
    # One row per affected subject per batch, written in the batch's own transaction.
    """
    create table sync_event (
        id bigserial primary key,
        batch_no bigint not null,
        subject_type text not null,
        subject_id text not null,
        snapshot text not null,
        created_at timestamptz not null default now(),
        published_at timestamptz
    )
    """,
    "create index sync_event_unpublished on sync_event (id) where published_at is null",
    """
    create table sync_fault (
        id bigserial primary key,
        feed text not null,
        change_id bigint,
        reason text not null,
        first_seen timestamptz not null default now(),
        last_seen timestamptz not null default now(),
        resolved_at timestamptz
    )
    """,
    "create unique index sync_fault_open on sync_fault (feed) where resolved_at is null",
)


def upgrade() -> None:
    for statement in (*READ_MODELS, *INDEXES, *SYNC):
        op.execute(statement)


def downgrade() -> None:
    for table in ("sync_fault", "sync_event", "sync_checkpoint", "region_parameter"):
        op.execute(f"drop table {table}")
    for statement in reversed(READ_MODELS[:-1]):
        op.execute("drop table " + statement.split()[2])
