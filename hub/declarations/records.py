"""Reading and writing declaration rows and their history in the hub DB (SQL only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.declarations.states import Status
from hub.declarations.types import DeclarationType

COLUMNS = (
    "id, reference, unit_id, region_code, type, payload, status, idempotency_key, created_by, created_at, "
    "updated_at, submitted_at, due_date, claimed_by, claimed_at, decided_by, decided_at, reason, finished_at, "
    "core_position, core_result, version"
)


@dataclass(frozen=True)
class Declaration:
    id: int
    reference: str  # 受理号
    unit_id: int
    region_code: str
    type: DeclarationType
    payload: dict[str, Any]
    status: Status
    idempotency_key: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    due_date: date | None
    claimed_by: str | None
    claimed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    finished_at: datetime | None
    core_position: str | None
    core_result: dict[str, Any] | None
    version: int

    @property
    def type_label(self) -> str:
        return self.type.label

    @property
    def status_label(self) -> str:
        return self.status.label


@dataclass(frozen=True)
class Event:
    at: datetime
    action: str
    action_label: str
    from_status: Status | None
    to_status: Status
    actor_kind: str
    actor_label: str  # 单位经办人 / 经办机构 / 系统: the unit sees roles, not staff accounts
    reason: str | None


def _row(r: dict[str, Any]) -> Declaration:
    return Declaration(**{**r, "type": DeclarationType(r["type"]), "status": Status(r["status"])})


def fetch(conn: psycopg.Connection[Any], declaration_id: int, *, lock: bool = False) -> Declaration | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {COLUMNS} from hub.declaration where id = %s{' for update' if lock else ''}", (declaration_id,)
        )
        row = cur.fetchone()
    return _row(row) if row else None


def fetch_by_key(conn: psycopg.Connection[Any], unit_id: int, key: str) -> Declaration | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {COLUMNS} from hub.declaration where unit_id = %s and idempotency_key = %s", (unit_id, key)
        )
        row = cur.fetchone()
    return _row(row) if row else None


def select(
    conn: psycopg.Connection[Any], where: str, params: dict[str, Any], *, order: str, limit: int
) -> list[Declaration]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"select {COLUMNS} from hub.declaration where {where} order by {order} limit {int(limit)}", params)
        return [_row(r) for r in cur.fetchall()]


def update(conn: psycopg.Connection[Any], declaration_id: int, **values: Any) -> Declaration:
    sets = ", ".join(f"{k} = %({k})s" for k in values)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"update hub.declaration set {sets}, updated_at = now(), version = version + 1 where id = %(_id)s "
            f"returning {COLUMNS}",
            {**values, "_id": declaration_id},
        )
        row = cur.fetchone()
    assert row is not None
    return _row(row)


ACTOR_LABELS = {"unit_operator": "单位经办人", "staff": "经办机构", "system": "系统", "client": "系统"}


def add_event(
    conn: psycopg.Connection[Any],
    declaration_id: int,
    *,
    at: datetime,
    action: str,
    from_status: Status | None,
    to_status: Status,
    actor_kind: str,
    actor: str,
    reason: str | None = None,
) -> None:
    conn.execute(
        "insert into hub.declaration_event (declaration_id, at, action, from_status, to_status, actor_kind, actor, "
        "reason) values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            declaration_id,
            at,
            action,
            from_status.value if from_status else None,
            to_status.value,
            actor_kind,
            actor,
            reason,
        ),
    )


def events(conn: psycopg.Connection[Any], declaration_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select at, action, from_status, to_status, actor_kind, reason from hub.declaration_event "
        "where declaration_id = %s order by id",
        (declaration_id,),
    ).fetchall()
