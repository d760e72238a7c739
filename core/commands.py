"""Applying a command from the hub (the ESB-style command API, ``core/api.py``) with the core's own rules.

A command is identified by its ``command_id``. Its effect and its row in ``core.command_log`` are written
in one transaction, so a command id takes effect at most once: a retry, or a second sender racing the
first (the primary key makes it wait for the first one's commit), gets the recorded answer instead. A
command the core refuses (``CoreError``, a missing parameter) is recorded as ``failed`` with its reason
and nothing else is written. The same id with different content is refused (``CommandMismatch``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core import db as core_db
from core import service
from core.service import CoreError
from hub.rules.params import ParameterMissing

log = logging.getLogger(__name__)


class CommandMismatch(Exception):
    """A command id seen before with a different content."""


@dataclass(frozen=True)
class Command:
    command_id: uuid.UUID
    type: str
    unit_id: int
    business_date: date  # the 经办日期: its month is the "current month" of 补收 and 调基补差
    payload: Mapping[str, Any]
    reference: str = ""

    def digest(self) -> bytes:
        body = {
            "type": self.type,
            "unit_id": self.unit_id,
            "business_date": self.business_date.isoformat(),
            "payload": self.payload,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).digest()


@dataclass(frozen=True)
class Outcome:
    command_id: str
    status: str  # applied | failed
    reason: str | None
    result: dict[str, Any] = field(default_factory=dict)
    position: str | None = None  # the applying core transaction id (a consistency token)
    replayed: bool = False


def _get(payload: Mapping[str, Any], key: str) -> Any:
    if key not in payload or payload[key] is None:
        raise CoreError(f"指令内容不完整：缺少{key}")
    return payload[key]


def _int(payload: Mapping[str, Any], key: str) -> int:
    try:
        return int(_get(payload, key))
    except (TypeError, ValueError):
        raise CoreError(f"指令内容不正确：{key}") from None


def _date(payload: Mapping[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(str(_get(payload, key)))
    except ValueError:
        raise CoreError(f"指令内容不正确：{key}") from None


def _money(value: Any, key: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise CoreError(f"指令内容不正确：{key}") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise CoreError(f"指令内容不正确：{key}")
    return amount


def _optional(payload: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: str(payload[k]) for k in keys if payload.get(k) is not None}


def _register(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    p = c.payload
    person_id = service.register_person(
        conn,
        c.unit_id,
        id_number=str(_get(p, "id_number")),
        name=str(_get(p, "name")),
        ethnicity=str(p.get("ethnicity") or "01"),
        work_start=_date(p, "work_start"),
        phone=str(_get(p, "phone")),
        position_level=p.get("position_level"),
    )
    return {"person_id": person_id}


def _change(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    fields = service.change_person(
        conn, c.unit_id, _int(c.payload, "person_id"), _optional(c.payload, tuple(service.PERSON_FIELDS))
    )
    return {"person_id": _int(c.payload, "person_id"), "fields": fields}


def _enrol(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    p = c.payload
    person_id = _int(p, "person_id")
    result = service.enrol(
        conn,
        c.unit_id,
        person_id,
        _date(p, "start_date"),
        _money(_get(p, "monthly_wage"), "monthly_wage"),
        c.business_date,
    )
    return {"person_id": person_id, **result}


def _stop(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    person_id = _int(c.payload, "person_id")
    return {"person_id": person_id, **service.stop(conn, c.unit_id, person_id, _date(c.payload, "stop_date"))}


def _resume(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    p = c.payload
    person_id = _int(p, "person_id")
    result = service.resume(
        conn,
        c.unit_id,
        person_id,
        _date(p, "resume_date"),
        _money(_get(p, "monthly_wage"), "monthly_wage"),
        c.business_date,
    )
    return {"person_id": person_id, **result}


def _wages(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    rows = _get(c.payload, "rows")
    if not isinstance(rows, list) or not rows:
        raise CoreError("指令内容不正确：rows")
    wages = [(_int(r, "person_id"), _money(_get(r, "monthly_wage"), "monthly_wage")) for r in rows]
    if len({p for p, _ in wages}) != len(wages):
        raise CoreError("同一人员重复申报")
    return service.declare_wages(conn, c.unit_id, _int(c.payload, "year"), wages, c.business_date)


def _unit_fields(keys: tuple[str, ...]) -> Callable[[psycopg.Connection[Any], Command], dict[str, Any]]:
    def apply(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
        return {"fields": service.change_unit(conn, c.unit_id, _optional(c.payload, keys))}

    return apply


HANDLERS: dict[str, Callable[[psycopg.Connection[Any], Command], dict[str, Any]]] = {
    "person_register": _register,
    "person_change": _change,
    "person_enrol": _enrol,
    "person_stop": _stop,
    "person_resume": _resume,
    "annual_wage": _wages,
    "unit_change": _unit_fields(("name", "address")),
    "unit_contact": _unit_fields(("contact_name", "contact_phone", "bank_name", "bank_account")),
}


def ensure_log(conn: psycopg.Connection[Any]) -> None:
    """Create ``core.command_log`` in a core database initialised before it existed (schema.sql's own DDL)."""
    schema = core_db.schema_sql()
    segment = schema[schema.index("-- Command log") :]
    with conn.transaction():
        conn.execute("set local search_path = core")
        conn.execute(segment)


def recorded(conn: psycopg.Connection[Any], command_id: uuid.UUID) -> tuple[Outcome, bytes] | None:
    row = conn.execute(
        "select status, reason, result, txid, request_hash from core.command_log where command_id = %s", (command_id,)
    ).fetchone()
    if row is None:
        return None
    return Outcome(str(command_id), row[0], row[1], row[2] or {}, row[3], replayed=True), bytes(row[4])


def execute(conn: psycopg.Connection[Any], command: Command) -> Outcome:
    """Apply ``command`` once and commit; a known command id returns its recorded outcome.

    ``conn`` must not be in autocommit mode nor inside a transaction. Raises ``CommandMismatch`` for a
    known id with a different content.
    """
    digest = command.digest()
    try:
        claimed = conn.execute(
            "insert into core.command_log (command_id, type, aab001, reference, request_hash, status) "
            "values (%s, %s, %s, %s, %s, 'applied') on conflict (command_id) do nothing returning command_id",
            (command.command_id, command.type[:30], command.unit_id, command.reference[:40], digest),
        ).fetchone()
        if claimed is None:
            conn.rollback()
            known = recorded(conn, command.command_id)
            conn.rollback()
            assert known is not None
            outcome, known_digest = known
            if known_digest != digest:
                raise CommandMismatch(str(command.command_id))
            return outcome
        status, reason, result, position = "applied", None, {}, None
        handler = HANDLERS.get(command.type)
        try:
            if handler is None:
                raise CoreError("不支持的指令类型")
            with conn.transaction():  # a savepoint: a refusal leaves no partial effect
                result = handler(conn, command)
            row = conn.execute("select pg_current_xact_id()::text").fetchone()
            assert row is not None
            position = str(row[0])
        except CoreError as exc:
            status, reason = "failed", exc.title
        except ParameterMissing as exc:
            log.warning("command %s refused: parameter missing (%s)", command.command_id, exc)
            status, reason = "failed", "核心系统缺少办理所需的参数，请联系经办机构"
        conn.execute(
            "update core.command_log set status = %s, reason = %s, result = %s, txid = %s where command_id = %s",
            (status, reason, Jsonb(result), position, command.command_id),
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info("command %s %s: %s", command.command_id, command.type, status)
    return Outcome(str(command.command_id), status, reason, result, position)
