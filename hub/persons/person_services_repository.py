"""SQL of the person services (待遇资格认证, 关系转移接续, 权益记录核查): hub DB tables of migration
``0018_person_services`` and the few query-store reads they need. No rules here, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.crypto import columns
from hub.rules.params import ParamRow

NATIONAL = "000000"  # region_code of national parameter rows (sync.models.PARAMETERS)

Row = dict[str, Any]


@dataclass(frozen=True)
class PersonFacts:
    """What the query store says about a person (internal id, never an ID number)."""

    person_id: int
    region_code: str
    retired: bool
    retire_date: date | None
    phone: str | None


# Query store -----------------------------------------------------------------------------------------


_FACTS = (
    "select person_id, region_code, coalesce(retired, false) as retired, retire_date, phone, phone_enc "
    "from person_overview"
)


def _facts(store: psycopg.Connection[Any], rows: list[Row]) -> list[PersonFacts]:
    # The phone is stored sealed (hub.crypto.columns); rows not yet sealed keep their plaintext.
    columns.reveal(store, "person_overview", rows)
    return [
        PersonFacts(int(r["person_id"]), str(r["region_code"]), bool(r["retired"]), r["retire_date"], r["phone"])
        for r in rows
        if r["region_code"] is not None
    ]


def person_facts(store: psycopg.Connection[Any], person_id: int) -> PersonFacts | None:
    cur = store.cursor(row_factory=dict_row)
    found = _facts(store, cur.execute(f"{_FACTS} where person_id = %s", (person_id,)).fetchall())
    return found[0] if found else None


def retirees(store: psycopg.Connection[Any], region_codes: list[str] | None) -> list[PersonFacts]:
    cur = store.cursor(row_factory=dict_row)
    rows = cur.execute(
        f"{_FACTS} where retired and region_code is not null "
        "and (%s::text[] is null or region_code = any(%s::text[])) order by person_id",
        (region_codes, region_codes),
    ).fetchall()
    return _facts(store, rows)


def param_rows(store: psycopg.Connection[Any], region: str, codes: tuple[str, ...]) -> tuple[ParamRow, ...]:
    """The dated ``ya_param`` rows of ``codes`` for ``region`` (and national ones)."""
    rows = store.execute(
        "select value ->> 'code', value ->> 'valid_from', value ->> 'value', coalesce(value ->> 'source', '') "
        "from region_parameter where kind = 'ya_param' and region_code = any(%s) and value ->> 'code' = any(%s)",
        ([region, NATIONAL], list(codes)),
    ).fetchall()
    return tuple(ParamRow(str(c), date.fromisoformat(str(v)[:10]), str(val), str(s)) for c, v, val, s in rows)


def contribution_exists(store: psycopg.Connection[Any], person_id: int, period: int, insurance: str) -> bool:
    row = store.execute(
        "select 1 from contribution_month where person_id = %s and period = %s and insurance = %s limit 1",
        (person_id, period, insurance),
    ).fetchone()
    return row is not None


def account_year_exists(store: psycopg.Connection[Any], person_id: int, year: int, account: str) -> bool:
    row = store.execute(
        "select 1 from account_year where person_id = %s and year = %s and account = %s limit 1",
        (person_id, year, account),
    ).fetchone()
    return row is not None


# 待遇资格认证 ------------------------------------------------------------------------------------------


def last_certified_on(hub: psycopg.Connection[Any], person_id: int) -> date | None:
    row = hub.execute(
        "select max(certified_on) from hub.eligibility_certification where person_id = %s", (person_id,)
    ).fetchone()
    return row[0] if row else None


def last_certified_many(hub: psycopg.Connection[Any], person_ids: list[int]) -> dict[int, date]:
    rows = hub.execute(
        "select person_id, max(certified_on) from hub.eligibility_certification where person_id = any(%s) "
        "group by person_id",
        (person_ids,),
    ).fetchall()
    return {int(p): d for p, d in rows}


def insert_certification(hub: psycopg.Connection[Any], **values: Any) -> int:
    columns = list(values)
    row = hub.execute(
        f"insert into hub.eligibility_certification ({', '.join(columns)}) "
        f"values ({', '.join(['%s'] * len(columns))}) returning id",
        list(values.values()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def certifications(hub: psycopg.Connection[Any], person_id: int, limit: int = 10) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        "select certified_on, certified_at, channel from hub.eligibility_certification where person_id = %s "
        "order by certified_at desc limit %s",
        (person_id, limit),
    ).fetchall()


# 关系转移接续 ------------------------------------------------------------------------------------------

TRANSFER_COLUMNS = (
    "id, reference, person_id, region_code, direction, other_region_code, other_region_name, other_scheme, "
    "other_agency, reason, contact_phone, status, refusal_reason, created_at, updated_at"
)


def insert_transfer(hub: psycopg.Connection[Any], **values: Any) -> int:
    columns = list(values)
    row = hub.execute(
        f"insert into hub.person_transfer ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))}) "
        "returning id",
        list(values.values()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def transfer(hub: psycopg.Connection[Any], transfer_id: int, *, for_update: bool = False) -> Row | None:
    cur = hub.cursor(row_factory=dict_row)
    lock = " for update" if for_update else ""
    return cur.execute(
        f"select {TRANSFER_COLUMNS} from hub.person_transfer where id = %s{lock}", (transfer_id,)
    ).fetchone()


def transfers_of_person(hub: psycopg.Connection[Any], person_id: int) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        f"select {TRANSFER_COLUMNS} from hub.person_transfer where person_id = %s order by created_at desc, id desc",
        (person_id,),
    ).fetchall()


def transfers_of_regions(hub: psycopg.Connection[Any], regions: list[str], open_only: bool) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        f"select {TRANSFER_COLUMNS} from hub.person_transfer where region_code = any(%s) "
        "and (not %s or status not in ('completed', 'refused')) order by created_at, id limit 500",
        (regions, open_only),
    ).fetchall()


def set_transfer_status(
    hub: psycopg.Connection[Any], transfer_id: int, status: str, refusal_reason: str | None, now: datetime
) -> None:
    hub.execute(
        "update hub.person_transfer set status = %s, refusal_reason = coalesce(%s, refusal_reason), "
        "updated_at = %s where id = %s",
        (status, refusal_reason, now, transfer_id),
    )


def add_transfer_event(
    hub: psycopg.Connection[Any], transfer_id: int, status: str, note: str | None, actor_kind: str, actor: str,
    at: datetime,
) -> None:  # fmt: skip
    hub.execute(
        "insert into hub.person_transfer_event (transfer_id, status, note, actor_kind, actor, at) "
        "values (%s, %s, %s, %s, %s, %s)",
        (transfer_id, status, note, actor_kind, actor, at),
    )


def transfer_events(hub: psycopg.Connection[Any], transfer_id: int) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        "select status, note, actor_kind, at from hub.person_transfer_event where transfer_id = %s order by id",
        (transfer_id,),
    ).fetchall()


# 权益记录核查 ------------------------------------------------------------------------------------------

OBJECTION_COLUMNS = (
    "id, reference, person_id, region_code, target, year, month, insurance, account, statement, status, "
    "answer, answered_by, answered_at, corrected_at, created_at"
)


def insert_objection(hub: psycopg.Connection[Any], **values: Any) -> int:
    columns = list(values)
    row = hub.execute(
        f"insert into hub.record_objection ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))}) "
        "returning id",
        list(values.values()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_objection_file(
    hub: psycopg.Connection[Any], objection_id: int, filename: str, content_type: str, data: bytes, sha256: str
) -> None:
    hub.execute(
        "insert into hub.record_objection_file (objection_id, filename, content_type, size, sha256, data) "
        "values (%s, %s, %s, %s, %s, %s)",
        (objection_id, filename, content_type, len(data), sha256, data),
    )


def objection(hub: psycopg.Connection[Any], objection_id: int, *, for_update: bool = False) -> Row | None:
    cur = hub.cursor(row_factory=dict_row)
    lock = " for update" if for_update else ""
    return cur.execute(
        f"select {OBJECTION_COLUMNS} from hub.record_objection where id = %s{lock}", (objection_id,)
    ).fetchone()


def objections_of_person(hub: psycopg.Connection[Any], person_id: int) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        f"select {OBJECTION_COLUMNS} from hub.record_objection where person_id = %s order by created_at desc, id desc",
        (person_id,),
    ).fetchall()


def objections_of_regions(hub: psycopg.Connection[Any], regions: list[str], open_only: bool) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        f"select {OBJECTION_COLUMNS} from hub.record_objection where region_code = any(%s) "
        "and (not %s or status in ('submitted', 'accepted')) order by created_at, id limit 500",
        (regions, open_only),
    ).fetchall()


def objection_files(hub: psycopg.Connection[Any], objection_id: int) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        "select id, filename, content_type, size from hub.record_objection_file where objection_id = %s order by id",
        (objection_id,),
    ).fetchall()


def objection_file(hub: psycopg.Connection[Any], objection_id: int, file_id: int) -> Row | None:
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        "select filename, content_type, data from hub.record_objection_file where objection_id = %s and id = %s",
        (objection_id, file_id),
    ).fetchone()


def answer_objection(
    hub: psycopg.Connection[Any], objection_id: int, status: str, answer: str | None, staff: str, now: datetime
) -> None:
    hub.execute(
        "update hub.record_objection set status = %s, answer = coalesce(%s, answer), answered_by = %s, "
        "answered_at = %s, corrected_at = case when %s = 'corrected' then %s else corrected_at end where id = %s",
        (status, answer, staff, now, status, now, objection_id),
    )
