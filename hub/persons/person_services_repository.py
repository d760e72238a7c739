"""SQL of the person services (待遇资格认证, 关系转移接续, 权益记录核查): hub DB tables of migration
``0018_person_services`` and the few query-store reads they need. No rules here, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.crypto import columns, files, payloads
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

# The 联系电话 is sealed to the row (``contact_phone_enc``, ``hub.crypto.payloads``); ``contact_phone`` is the
# previous release's plaintext, null once sealed. Rows come back with ``contact_phone`` opened.
TRANSFER_COLUMNS = (
    "id, reference, person_id, region_code, direction, other_region_code, other_region_name, other_scheme, "
    "other_agency, reason, contact_phone, contact_phone_enc, status, refusal_reason, created_at, updated_at"
)


def _transfer_row(hub: psycopg.Connection[Any], row: Row) -> Row:
    envelope = row.pop("contact_phone_enc")
    row["contact_phone"] = payloads.open_value(
        hub, payloads.TRANSFER_CONTACT_PHONE, row["id"], envelope, row["contact_phone"]
    )
    return row


def insert_transfer(hub: psycopg.Connection[Any], **values: Any) -> int:
    found = hub.execute("select nextval(pg_get_serial_sequence('hub.person_transfer', 'id'))").fetchone()
    assert found is not None
    transfer_id = int(found[0])
    phone = values.pop("contact_phone", None)
    values |= {
        "id": transfer_id,
        "contact_phone_enc": payloads.seal_value(hub, payloads.TRANSFER_CONTACT_PHONE, transfer_id, phone),
    }
    columns = list(values)
    hub.execute(
        f"insert into hub.person_transfer ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
        list(values.values()),
    )
    return transfer_id


def transfer(hub: psycopg.Connection[Any], transfer_id: int, *, for_update: bool = False) -> Row | None:
    cur = hub.cursor(row_factory=dict_row)
    lock = " for update" if for_update else ""
    row = cur.execute(
        f"select {TRANSFER_COLUMNS} from hub.person_transfer where id = %s{lock}", (transfer_id,)
    ).fetchone()
    return _transfer_row(hub, row) if row is not None else None


def transfers_of_person(hub: psycopg.Connection[Any], person_id: int) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    rows = cur.execute(
        f"select {TRANSFER_COLUMNS} from hub.person_transfer where person_id = %s order by created_at desc, id desc",
        (person_id,),
    ).fetchall()
    return [_transfer_row(hub, r) for r in rows]


def transfers_of_regions(hub: psycopg.Connection[Any], regions: list[str], open_only: bool) -> list[Row]:
    cur = hub.cursor(row_factory=dict_row)
    rows = cur.execute(
        f"select {TRANSFER_COLUMNS} from hub.person_transfer where region_code = any(%s) "
        "and (not %s or status not in ('completed', 'refused')) order by created_at, id limit 500",
        (regions, open_only),
    ).fetchall()
    return [_transfer_row(hub, r) for r in rows]


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
    "answer, answered_by, answered_at, corrected_at, created_at, corrected_by, corrected_event, corrected_snapshot"
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


# Evidence files are sealed to their row (``data_enc``, ``hub.crypto.files``); ``data`` is the previous release's
# plaintext, null once sealed. ``sha256`` (hex) stays over the plaintext and is checked on every read.


def insert_objection_file(
    hub: psycopg.Connection[Any], objection_id: int, filename: str, content_type: str, data: bytes, sha256: str
) -> int:
    file_id = files.next_id(hub, files.OBJECTION_FILE)
    hub.execute(
        "insert into hub.record_objection_file (id, objection_id, filename, content_type, size, sha256, data_enc) "
        "values (%s, %s, %s, %s, %s, %s, %s)",
        (file_id, objection_id, filename, content_type, len(data), sha256,
         files.seal(hub, files.OBJECTION_FILE, file_id, data)),
    )  # fmt: skip
    return file_id


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
    """One evidence file with its bytes opened (``data``) and checked against its SHA-256."""
    cur = hub.cursor(row_factory=dict_row)
    row = cur.execute(
        "select id, filename, content_type, sha256, data, data_enc from hub.record_objection_file "
        "where objection_id = %s and id = %s",
        (objection_id, file_id),
    ).fetchone()
    if row is None:
        return None
    data = files.opened(hub, files.OBJECTION_FILE, row["id"], row["data_enc"], row["data"], sha256=str(row["sha256"]))
    return {"filename": row["filename"], "content_type": row["content_type"], "data": data}


def answer_objection(
    hub: psycopg.Connection[Any],
    objection_id: int,
    status: str,
    answer: str | None,
    staff: str,
    now: datetime,
    *,
    record_digest: str | None = None,
) -> None:
    """Staff's answer; a correction recorded here is ``corrected_by = 'staff'`` (the manual fallback)."""
    hub.execute(
        "update hub.record_objection set status = %(s)s, answer = coalesce(%(a)s, answer), answered_by = %(by)s, "
        "answered_at = %(now)s, corrected_at = case when %(s)s = 'corrected' then %(now)s else corrected_at end, "
        "corrected_by = case when %(s)s = 'corrected' then 'staff' else corrected_by end, "
        "record_digest = coalesce(%(d)s, record_digest) where id = %(id)s",
        {"s": status, "a": answer, "by": staff, "now": now, "d": record_digest, "id": objection_id},
    )


# The objected record as the query store shows it, fingerprinted (every column of the read model but its key,
# listed, so that a column added to the model later does not look like a change of every record).
_CONTRIBUTION_DIGEST = (
    "select md5(coalesce(string_agg(row(detail_id, unit_id, kind, declared_wage, base, unit_amount, "
    "personal_amount, to_account, real_account, paid, paid_on)::text, ';' order by detail_id), '')) "
    "from contribution_month where person_id = %s and period = %s and insurance = %s"
)
_ACCOUNT_DIGEST = (
    "select md5(coalesce(string_agg(row(opening, credited, interest, closing, rate)::text, ';'), '')) "
    "from account_year where person_id = %s and year = %s and account = %s"
)


def record_digest(store: psycopg.Connection[Any], objection: Row) -> str:
    """The fingerprint of the record ``objection`` is about (a contribution month of one 险种, or an account
    year) in the query store now; a record with no rows has the fingerprint of the empty text."""
    person_id, year = int(objection["person_id"]), int(objection["year"])
    if objection["target"] == "contribution":
        args: tuple[Any, ...] = (person_id, year * 100 + int(objection["month"]), objection["insurance"])
        row = store.execute(_CONTRIBUTION_DIGEST, args).fetchone()
    else:
        row = store.execute(_ACCOUNT_DIGEST, (person_id, year, objection["account"])).fetchone()
    assert row is not None
    return str(row[0])


def accepted_objections(hub: psycopg.Connection[Any], person_ids: list[int] | None) -> list[Row]:
    """The accepted (not yet corrected) objections of ``person_ids`` (None: of everyone), locked."""
    cur = hub.cursor(row_factory=dict_row)
    return cur.execute(
        f"select {OBJECTION_COLUMNS}, record_digest from hub.record_objection where status = 'accepted' "
        "and (%s::bigint[] is null or person_id = any(%s::bigint[])) order by id for update",
        (person_ids, person_ids),
    ).fetchall()


def set_record_digest(hub: psycopg.Connection[Any], objection_id: int, digest: str) -> None:
    hub.execute(
        "update hub.record_objection set record_digest = %s where id = %s and record_digest is null",
        (digest, objection_id),
    )


def correct_from_feed(
    hub: psycopg.Connection[Any], objection_id: int, now: datetime, event_id: int, snapshot: str
) -> bool:
    """Move an accepted objection to ``corrected`` as seen in the change feed; False if it was not accepted."""
    cur = hub.execute(
        "update hub.record_objection set status = 'corrected', corrected_at = %s, corrected_by = 'feed', "
        "corrected_event = %s, corrected_snapshot = %s where id = %s and status = 'accepted'",
        (now, event_id, snapshot, objection_id),
    )
    return cur.rowcount == 1
