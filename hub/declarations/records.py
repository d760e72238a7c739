"""Reading and writing declaration rows and their history in the hub DB (SQL only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.crypto import payloads
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType

# ``payload`` is the previous release's plaintext (null once sealed); ``payload_enc`` the sealed payload.
COLUMNS = (
    "id, reference, unit_id, region_code, type, payload, payload_enc, status, idempotency_key, created_by, created_at, "
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
    sealed: payloads.Lazy = field(repr=False, compare=False)  # the payload, opened on first use
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
    def payload(self) -> dict[str, Any]:
        """The declaration's content (its envelope opened the first time it is read)."""
        return self.sealed.get()

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


def _row(conn: psycopg.Connection[Any], r: dict[str, Any]) -> Declaration:
    sealed = payloads.Lazy(conn, payloads.DECLARATION, r["id"], r.pop("payload_enc"), r.pop("payload"))
    return Declaration(**{**r, "sealed": sealed, "type": DeclarationType(r["type"]), "status": Status(r["status"])})


def insert(
    conn: psycopg.Connection[Any],
    *,
    unit_id: int,
    region_code: str,
    type_: DeclarationType,
    payload: dict[str, Any],
    key: str,
    created_by: str,
    at: datetime,
) -> int | None:
    """A new draft with its payload sealed to its id; None when the unit already used ``key`` (a concurrent twin)."""
    found = conn.execute("select nextval('hub.declaration_id_seq')").fetchone()
    assert found is not None
    new_id = int(found[0])
    row = conn.execute(
        "insert into hub.declaration (id, reference, unit_id, region_code, type, payload_enc, summary, status, "
        "idempotency_key, created_by, created_at, updated_at) "
        "values (%(id)s, 'SB' || to_char(%(at)s at time zone 'Asia/Shanghai', 'YYYYMMDD') "
        "|| lpad(%(id)s::text, 8, '0'), "
        "%(unit)s, %(region)s, %(type)s, %(payload_enc)s, %(summary)s, 'draft', %(key)s, %(by)s, %(at)s, %(at)s) "
        "on conflict (unit_id, idempotency_key) do nothing returning id",
        {
            "id": new_id,
            "at": at,
            "unit": unit_id,
            "region": region_code,
            "type": type_.value,
            "key": key,
            "by": created_by,
            **{k: v for k, v in payloads.declaration_values(conn, new_id, payload).items() if k != "payload"},
        },
    ).fetchone()
    return int(row[0]) if row else None


def fetch(conn: psycopg.Connection[Any], declaration_id: int, *, lock: bool = False) -> Declaration | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {COLUMNS} from hub.declaration where id = %s{' for update' if lock else ''}", (declaration_id,)
        )
        row = cur.fetchone()
    return _row(conn, row) if row else None


def fetch_by_key(conn: psycopg.Connection[Any], unit_id: int, key: str) -> Declaration | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {COLUMNS} from hub.declaration where unit_id = %s and idempotency_key = %s", (unit_id, key)
        )
        row = cur.fetchone()
    return _row(conn, row) if row else None


def select(
    conn: psycopg.Connection[Any], where: str, params: dict[str, Any], *, order: str, limit: int
) -> list[Declaration]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"select {COLUMNS} from hub.declaration where {where} order by {order} limit {int(limit)}", params)
        return [_row(conn, r) for r in cur.fetchall()]


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
    return _row(conn, row)


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
