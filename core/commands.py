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
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core import archive, service
from core import db as core_db
from core.service import CoreError
from hub.ids import id_birth_date, id_sex, validate_id_number
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
    attachments: tuple[archive.ArchiveFile, ...] = ()  # supporting documents for the 电子档案

    def digest(self) -> bytes:
        body: dict[str, Any] = {
            "type": self.type,
            "unit_id": self.unit_id,
            "business_date": self.business_date.isoformat(),
            "payload": self.payload,
        }
        if self.attachments:
            body["attachments"] = [[a.source_id, a.sha256] for a in self.attachments]
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


# Person-originated commands (hub/persons/requests.py): ``unit_id`` is 0, the person is in the payload.
CARD_NORMAL, CARD_LOST, CARD_CANCELLED = "1", "2", "3"  # ac50.status, code table CARD_STATUS


def _person_id(conn: psycopg.Connection[Any], c: Command) -> int:
    person_id = _int(c.payload, "person_id")
    if conn.execute("select 1 from core.ac01 where aac001 = %s", (person_id,)).fetchone() is None:
        raise CoreError("人员不存在")
    return person_id


ADDRESS_MAX = 100  # characters, as ac01.address varchar(100)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # control, format (bidi, zero-width), surrogates


def _address(value: Any) -> str:
    text = str(value)
    if not 0 < len(text) <= ADDRESS_MAX or text != text.strip():
        raise CoreError("通讯地址不正确")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text):
        raise CoreError("通讯地址含有不允许的控制字符")
    return text


def _postal_code(value: Any) -> str:
    # DOMAIN.md is silent on 邮政编码: six digits, a leading 0 allowed (010000 is 呼和浩特).
    text = str(value)
    if not (len(text) == 6 and text.isascii() and text.isdigit()):
        raise CoreError("邮政编码应为6位数字")
    return text


def _person_contact(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    """The person's mobile number, and the 通讯地址 and 邮政编码 when the command carries them."""
    person_id = _person_id(conn, c)
    phone = str(_get(c.payload, "phone"))
    if not (len(phone) == 11 and phone.isascii() and phone.isdigit() and phone[0] == "1" and phone[1] in "3456789"):
        raise CoreError("手机号码不正确")
    sets: dict[str, str] = {"aac067": phone}
    if c.payload.get("address") is not None:
        sets["address"] = _address(c.payload["address"])
    if c.payload.get("postal_code") is not None:
        sets["postal_code"] = _postal_code(c.payload["postal_code"])
    assignments = ", ".join(f"{column} = %s" for column in sets)
    conn.execute(f"update core.ac01 set {assignments} where aac001 = %s", (*sets.values(), person_id))
    return {"person_id": person_id, "fields": list(sets)}


def _card_status(expected: str, target: str) -> Callable[[psycopg.Connection[Any], Command], dict[str, Any]]:
    """Move the person's card (ac50) from ``expected`` to ``target``; any other status is refused."""

    def apply(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
        person_id = _person_id(conn, c)
        row = conn.execute("select status from core.ac50 where aac001 = %s for update", (person_id,)).fetchone()
        if row is None:
            raise CoreError("未查询到社会保障卡")
        if row[0] == CARD_CANCELLED:
            raise CoreError("社会保障卡已注销")
        if row[0] != expected:
            raise CoreError("社会保障卡已处于挂失状态" if row[0] == CARD_LOST else "社会保障卡未挂失，无需解挂")
        conn.execute("update core.ac50 set status = %s where aac001 = %s", (target, person_id))
        return {"person_id": person_id, "card_status": target}

    return apply


HANDLERS.update(
    {
        "person_contact": _person_contact,
        "card_loss": _card_status(CARD_NORMAL, CARD_LOST),
        "card_unloss": _card_status(CARD_LOST, CARD_NORMAL),
    }
)


# 数据采集 (hub/collect): a unit not yet in the core is opened with its staff and retirees as one whole.
# ``unit_id`` is 0 (the core gives the unit its 单位编号); the result carries it.


def _unit_open(conn: psycopg.Connection[Any], c: Command) -> dict[str, Any]:
    unit = _get(c.payload, "unit")
    if not isinstance(unit, Mapping):
        raise CoreError("指令内容不正确：unit")
    uscc = str(_get(unit, "uscc"))
    taken = conn.execute("select aab001 from core.ab01 where uscc = %s", (uscc,)).fetchone()
    if taken is not None:
        raise CoreError(f"该统一社会信用代码已登记，单位编号{taken[0]}")
    region = str(_get(unit, "region_code"))
    agency = conn.execute(
        "select aaz001 from core.ae10 where aaa027 = %s order by aaz001 limit 1", (region,)
    ).fetchone()
    if agency is None:
        raise CoreError("该统筹区没有社会保险经办机构")
    unit_id = service._next_id(conn, "ab01", "aab001")
    conn.execute(
        "insert into core.ab01 (aab001, uscc, aab004, aab019, funding, collection, aab034, aaa027, contact_name, "
        "contact_phone, address, bank_name, bank_account) values (%s, %s, %s, %s, %s, '1', %s, %s, %s, %s, %s, %s, %s)",
        (
            unit_id, uscc, str(_get(unit, "name")), str(_get(unit, "unit_type")), str(_get(unit, "funding")),
            agency[0], region, str(_get(unit, "contact_name")), str(_get(unit, "contact_phone")),
            str(_get(unit, "address")), unit.get("bank_name"), unit.get("bank_account"),
        ),
    )  # fmt: skip
    staff: list[int] = []
    for row in c.payload.get("staff") or []:
        person_id = service.register_person(
            conn,
            unit_id,
            id_number=str(_get(row, "id_number")),
            name=str(_get(row, "name")),
            ethnicity=str(row.get("ethnicity") or "01"),
            work_start=_date(row, "work_start"),
            phone=str(_get(row, "phone")),
            position_level=row.get("position_level"),
        )
        service.enrol(
            conn, unit_id, person_id, _date(row, "start_date"), _money(_get(row, "monthly_wage"), "monthly_wage"),
            c.business_date,
        )  # fmt: skip
        staff.append(person_id)
    retirees: list[int] = []
    for row in c.payload.get("retirees") or []:
        number = validate_id_number(str(_get(row, "id_number")))
        known = conn.execute("select aac001 from core.ac01 where aac002 = %s", (number,)).fetchone()
        if known is not None:
            raise CoreError(f"该公民身份号码已登记，个人编号{known[0]}")
        work_start, retired_on = _date(row, "work_start"), _date(row, "retire_date")
        if not id_birth_date(number) < work_start < retired_on:
            raise CoreError("离退休人员的参加工作时间或离退休日期不正确")
        person_id = service._next_id(conn, "ac01", "aac001")
        conn.execute(
            "insert into core.ac01 (aac001, aac002, aac003, aac004, aac005, aac006, aac007, aac067, aaa027, "
            "aac084, aic162) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, '1', %s)",
            (
                person_id, number, str(_get(row, "name")), id_sex(number), str(row.get("ethnicity") or "01"),
                id_birth_date(number), work_start, row.get("phone"), region, retired_on,
            ),
        )  # fmt: skip
        relation = service._next_id(conn, "ac20", "aaz157")
        conn.execute(
            "insert into core.ac20 (aaz157, aac001, aab001, start_date, end_date) values (%s, %s, %s, %s, %s)",
            (relation, person_id, unit_id, work_start, retired_on),
        )
        retirees.append(person_id)
    return {"unit_id": unit_id, "staff": staff, "retirees": retirees}


HANDLERS["unit_collect"] = _unit_open  # the declaration type of hub/collect


def ensure_log(conn: psycopg.Connection[Any]) -> None:
    """Create ``core.command_log`` (and what else schema.sql's idempotent tail adds) in a core database
    initialised before it existed."""
    core_db.upgrade(conn)


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
                archive.file(conn, command.command_id, command.unit_id, command.reference, command.attachments)
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
