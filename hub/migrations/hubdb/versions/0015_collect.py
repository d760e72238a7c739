"""数据采集: the declaration type ``unit_collect``, its 限时办结 deadline, the agency's SM2 keys for packages of
the offline version, and the record of activation codes delivered for units opened by a collection.

Revision ID: 0015_collect
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0015_collect"
down_revision = "0001"
branch_labels = ("collect",)
depends_on = ("0005_declarations",)

TYPE = "unit_collect"
TYPED_TABLES = ("declaration", "declaration_deadline", "declaration_auto_rule")
DEADLINE_DAYS = 20
DEADLINE_SOURCE = "系统默认办理时限（各经办机构按本机构办事指南公布的承诺时限修改）"


def _widen_type_check(table: str) -> None:
    """Add ``unit_collect`` to the list of the table's ``type`` check, keeping whatever other branches added.

    The check is replaced in one statement by a superset of itself, so every row and every running
    version's insert stays valid.
    """
    conn = op.get_bind()
    row = conn.exec_driver_sql(
        "select conname, pg_get_constraintdef(oid) from pg_constraint "
        f"where conrelid = 'hub.{table}'::regclass and contype = 'c' "
        "and position('person_register' in pg_get_constraintdef(oid)) > 0"
    ).fetchone()
    if row is None or f"'{TYPE}'" in row[1]:
        return
    name, definition = str(row[0]), str(row[1])
    widened = definition.replace("ARRAY[", f"ARRAY['{TYPE}'::text, ", 1)
    op.execute(f'alter table hub.{table} drop constraint "{name}", add constraint "{name}" {widened}')


def upgrade() -> None:
    for table in TYPED_TABLES:
        _widen_type_check(table)
    op.execute(
        "insert into hub.declaration_deadline (type, valid_from, working_days, source, updated_by) "
        f"values ('{TYPE}', date '2014-10-01', {DEADLINE_DAYS}, '{DEADLINE_SOURCE}', 'seed') on conflict do nothing"
    )
    # The agency's SM2 key pairs: packages of the offline version wrap their content key for the public key.
    # The private key is stored only sealed (SM4-GCM) under the key-encryption key from the environment.
    op.execute(
        """
        create table hub.collect_key (
            fingerprint text primary key,       -- SM3 of the public key (hex, 32), named in each package
            public_key text not null,
            private_sealed bytea not null,
            kek_fingerprint text not null,
            created_by text not null,
            created_at timestamptz not null,
            retired_at timestamptz
        )
        """
    )
    # One activation code per unit opened by a collection: the primary key makes a repeated run send nothing.
    op.execute(
        """
        create table hub.collect_opening (
            declaration_id bigint primary key references hub.declaration (id),
            unit_id bigint not null,
            delivered_at timestamptz not null
        )
        """
    )


def downgrade() -> None:
    op.execute("drop table if exists hub.collect_opening")
    op.execute("drop table if exists hub.collect_key")
    op.execute(f"delete from hub.declaration_deadline where type = '{TYPE}'")
