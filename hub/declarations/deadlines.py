"""限时办结: the working days allowed per declaration type, as dated parameters staff configure.

The seeded values are this deployment's defaults; each agency sets its own from its published service
guide (办事指南) with ``set_deadline`` (a new dated row, the old one kept for declarations received
before it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg

from hub.access.subject import Subject
from hub.audit import sync_writer as audit
from hub.declarations.access import require_admin
from hub.declarations.types import DeclarationType
from hub.errors import ValidationFailed

SEED_VALID_FROM = date(2014, 10, 1)
SEED_DEADLINES_SOURCE = "系统默认办理时限（各经办机构按本机构办事指南公布的承诺时限修改）"
SEED_DEADLINES: dict[str, int] = {
    DeclarationType.PERSON_REGISTER.value: 5,
    DeclarationType.PERSON_CHANGE.value: 3,
    DeclarationType.PERSON_ENROL.value: 5,
    DeclarationType.PERSON_STOP.value: 5,
    DeclarationType.PERSON_RESUME.value: 5,
    DeclarationType.ANNUAL_WAGE.value: 10,
    DeclarationType.UNIT_CHANGE.value: 5,
    DeclarationType.UNIT_CONTACT.value: 3,
}


class DeadlineMissing(ValidationFailed):
    title = "未配置办理时限"


def working_days(conn: psycopg.Connection[Any], type_: DeclarationType, on: date) -> int:
    row = conn.execute(
        "select working_days from hub.declaration_deadline where type = %s and valid_from <= %s "
        "order by valid_from desc limit 1",
        (type_.value, on),
    ).fetchone()
    if row is None:
        raise DeadlineMissing(f"“{type_.label}”未配置办理时限")
    return int(row[0])


def set_deadline(
    conn: psycopg.Connection[Any], subject: Subject, type_: DeclarationType, valid_from: date, days: int, source: str
) -> None:
    """Set the working days of ``type_`` from ``valid_from`` (system administrator). Never commits."""
    require_admin(subject)
    if not 1 <= days <= 60:
        raise ValidationFailed("办理时限应为1至60个工作日")
    if not source.strip():
        raise ValidationFailed("请填写时限依据")
    conn.execute(
        "insert into hub.declaration_deadline (type, valid_from, working_days, source, updated_by) "
        "values (%s, %s, %s, %s, %s) on conflict (type, valid_from) do update set "
        "working_days = excluded.working_days, source = excluded.source, updated_by = excluded.updated_by, "
        "updated_at = now()",
        (type_.value, valid_from, days, source.strip(), subject.account_id),
    )
    audit.event(
        conn,
        "declaration.deadline.set",
        "ok",
        at=datetime.now(UTC),
        actor_kind=subject.kind.value,
        actor=subject.account_id,
        target_type="declaration_type",
        target_id=type_.value,
        purpose="declaration",
        client_id=subject.client_id,
        channel=subject.channel.value,
    )
