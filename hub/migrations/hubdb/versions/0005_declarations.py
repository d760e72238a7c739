"""Unit declarations: the declaration and its history, the command outbox, the working-day calendar,
限时办结 deadlines per type and auto-approve rules.

Revision ID: 0005_declarations
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005_declarations"
down_revision = "0001"
branch_labels = ("declarations",)
depends_on = None

TYPES = (
    "'person_register', 'person_change', 'person_enrol', 'person_stop', 'person_resume', "
    "'annual_wage', 'unit_change', 'unit_contact'"
)
STATUSES = "'draft', 'submitted', 'approved', 'rejected', 'returned', 'sent', 'applied', 'failed', 'withdrawn'"

STATEMENTS = (
    f"""
    create table hub.declaration (
        id bigserial primary key,
        reference text not null unique,
        unit_id bigint not null,
        region_code text not null,
        type text not null check (type in ({TYPES})),
        payload jsonb not null,
        status text not null check (status in ({STATUSES})),
        idempotency_key text not null,
        created_by text not null,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        submitted_at timestamptz,
        due_date date,
        claimed_by text,
        claimed_at timestamptz,
        decided_by text,
        decided_at timestamptz,
        reason text,
        finished_at timestamptz,
        core_position text,
        core_result jsonb,
        version integer not null default 1,
        unique (unit_id, idempotency_key)
    )
    """,
    "create index declaration_queue on hub.declaration (region_code, type, due_date) where status = 'submitted'",
    "create index declaration_unit on hub.declaration (unit_id, id desc)",
    "create index declaration_submitted on hub.declaration (submitted_at)",
    f"""
    create table hub.declaration_event (
        id bigserial primary key,
        declaration_id bigint not null references hub.declaration (id),
        at timestamptz not null,
        action text not null,
        from_status text check (from_status in ({STATUSES})),
        to_status text not null check (to_status in ({STATUSES})),
        actor_kind text not null,
        actor text not null,
        reason text
    )
    """,
    "create index declaration_event_decl on hub.declaration_event (declaration_id, id)",
    """
    create table hub.declaration_command (
        command_id uuid primary key,
        declaration_id bigint not null unique references hub.declaration (id),
        type text not null,
        unit_id bigint not null,
        business_date date not null,
        payload jsonb not null,
        status text not null default 'pending' check (status in ('pending', 'sending', 'applied', 'failed')),
        attempts integer not null default 0,
        next_attempt_at timestamptz not null default now(),
        lease_until timestamptz,
        last_error text,
        created_at timestamptz not null default now(),
        finished_at timestamptz
    )
    """,
    "create index declaration_command_due on hub.declaration_command (next_attempt_at) "
    "where status in ('pending', 'sending')",
    "create index declaration_command_open_per_unit on hub.declaration_command (unit_id, created_at, declaration_id) "
    "where status in ('pending', 'sending')",
    """
    create table hub.work_calendar (
        day date primary key,
        kind text not null check (kind in ('holiday', 'workday')),
        note text not null,
        source text not null,
        updated_by text not null,
        updated_at timestamptz not null default now()
    )
    """,
    f"""
    create table hub.declaration_deadline (
        type text not null check (type in ({TYPES})),
        valid_from date not null,
        working_days integer not null check (working_days between 1 and 60),
        source text not null,
        updated_by text not null,
        updated_at timestamptz not null default now(),
        primary key (type, valid_from)
    )
    """,
    f"""
    create table hub.declaration_auto_rule (
        type text primary key check (type in ({TYPES})),
        enabled boolean not null,
        note text not null,
        updated_by text not null,
        updated_at timestamptz not null default now()
    )
    """,
)


def upgrade() -> None:
    from hub.declarations.calendar import SEED_2026, SEED_2026_SOURCE
    from hub.declarations.deadlines import SEED_DEADLINES, SEED_DEADLINES_SOURCE, SEED_VALID_FROM

    for statement in STATEMENTS:
        op.execute(statement)
    conn = op.get_bind()
    for day, kind, note in SEED_2026:
        conn.exec_driver_sql(
            "insert into hub.work_calendar (day, kind, note, source, updated_by) values (%s, %s, %s, %s, 'seed')",
            (day, kind, note, SEED_2026_SOURCE),
        )
    for type_, days in SEED_DEADLINES.items():
        conn.exec_driver_sql(
            "insert into hub.declaration_deadline (type, valid_from, working_days, source, updated_by) "
            "values (%s, %s, %s, %s, 'seed')",
            (type_, SEED_VALID_FROM, days, SEED_DEADLINES_SOURCE),
        )


def downgrade() -> None:
    for table in (
        "declaration_auto_rule",
        "declaration_deadline",
        "work_calendar",
        "declaration_command",
        "declaration_event",
        "declaration",
    ):
        op.execute(f"drop table if exists hub.{table}")
