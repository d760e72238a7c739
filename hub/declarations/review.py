"""What a declaration would change against the current record (read from the query store), and the
review flags that keep it out of bulk and automatic approval.

``assess`` reads only the query store; it never decides, it shows. A declaration with no flag is
"clean": a reviewer may approve it in a batch, and an auto-approve rule may approve it on submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.crypto import columns as sealed
from hub.declarations import types as t
from hub.rules.period import Period

# A review heuristic, not a policy number: a declared wage this far from the last one is flagged for a look.
WAGE_CHANGE_FLAG_RATIO = Decimal("0.5")
PAY_STATUS = {"1": "正常缴费", "2": "暂停缴费", "3": "终止缴费"}
NONE = "（无）"


@dataclass(frozen=True)
class Change:
    subject: str  # what the line is about: 单位, or a person (个人编号 and name)
    field: str
    current: str
    proposed: str


@dataclass(frozen=True)
class Assessment:
    changes: list[Change] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.flags


def _one(conn: psycopg.Connection[Any], sql: str, *args: object) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def _person(conn: psycopg.Connection[Any], person_id: int) -> dict[str, Any] | None:
    row = _one(conn, "select * from person_overview where person_id = %s", person_id)
    return sealed.reveal(conn, "person_overview", [row])[0] if row else None


def _open_relation(conn: psycopg.Connection[Any], person_id: int) -> dict[str, Any] | None:
    return _one(
        conn,
        "select unit_id, start_date from unit_roster where person_id = %s and end_date is null "
        "order by start_date desc limit 1",
        person_id,
    )


def _pay_status(conn: psycopg.Connection[Any], person_id: int) -> str:
    row = _one(conn, "select pay_status from person_insurance where person_id = %s and insurance = '120'", person_id)
    return PAY_STATUS.get(row["pay_status"], row["pay_status"]) if row else "未参保"


def _who(person_id: int, person: dict[str, Any] | None) -> str:
    return f"个人编号{person_id} {person['name']}" if person else f"个人编号{person_id}"


def _text(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def _roster_flag(
    conn: psycopg.Connection[Any], unit_id: int, person_id: int, person: dict[str, Any] | None, flags: list[str]
) -> None:
    rel = _open_relation(conn, person_id)
    if person is None or rel is None or rel["unit_id"] != unit_id:
        flags.append(f"{_who(person_id, person)}不在本单位在册参保名单中")


def assess(
    conn: psycopg.Connection[Any],
    type_: t.DeclarationType,
    unit_id: int,
    payload: dict[str, Any],
    today: date,
    *,
    wage_change_ratio: Decimal = WAGE_CHANGE_FLAG_RATIO,
) -> Assessment:
    """The changes and flags of a (valid) payload, against the query store as of now."""
    p = t.parse(type_, payload)
    changes: list[Change] = []
    flags: list[str] = []
    now = Period.of(today)
    if isinstance(p, t.PersonRegister):
        taken = _one(
            conn,
            "select person_id from person_overview where id_number_bidx = %s",
            sealed.blind_index(conn, sealed.PERSON_ID_NUMBER, p.id_number),
        )
        if taken:
            flags.append(f"该公民身份号码已登记，个人编号{taken['person_id']}")
        for label, value in (
            ("姓名", p.name),
            ("公民身份号码", p.id_number),
            ("参加工作时间", p.work_start.isoformat()),
            ("手机号码", p.phone),
            ("民族", p.ethnicity),
            ("职务职级", p.position_level),
        ):
            changes.append(Change("新登记人员", label, NONE, _text(value)))
    elif isinstance(p, t.PersonChange):
        person = _person(conn, p.person_id)
        _roster_flag(conn, unit_id, p.person_id, person, flags)
        for key, label, column in (
            ("phone", "手机号码", "phone"),
            ("ethnicity", "民族", "ethnicity"),
            ("position_level", "职务职级", "position_level"),
        ):
            value = getattr(p, key)
            if value is not None:
                current = _text(person[column]) if person else NONE
                changes.append(Change(_who(p.person_id, person), label, current, value))
    elif isinstance(p, t.PersonEnrol | t.PersonResume):
        start = p.start_date if isinstance(p, t.PersonEnrol) else p.resume_date
        person = _person(conn, p.person_id)
        who = _who(p.person_id, person)
        if person is None:
            flags.append(f"{who}尚未登记")
        elif person["retired"]:
            flags.append(f"{who}已离退休")
        rel = _open_relation(conn, p.person_id)
        if rel is not None:
            flags.append(f"{who}正在参保缴费（单位编号{rel['unit_id']}）")
        if Period.of(start) < now:
            flags.append(f"参保日期早于本月，将补收{now - Period.of(start)}个月")
        changes.append(Change(who, "缴费状态", _pay_status(conn, p.person_id), "正常缴费"))
        changes.append(Change(who, "本次参保日期", NONE, start.isoformat()))
        changes.append(Change(who, "月缴费工资", NONE, str(p.monthly_wage)))
    elif isinstance(p, t.PersonStop):
        person = _person(conn, p.person_id)
        who = _who(p.person_id, person)
        _roster_flag(conn, unit_id, p.person_id, person, flags)
        if Period.of(p.stop_date) < now:
            flags.append("停保日期早于本月，停保月以后已核定的缴费将退收")
        changes.append(Change(who, "缴费状态", _pay_status(conn, p.person_id), "暂停缴费"))
        changes.append(Change(who, "停保日期", NONE, p.stop_date.isoformat()))
        changes.append(Change(who, "停保原因", NONE, p.reason))
    elif isinstance(p, t.AnnualWage):
        # Three set-based reads for the whole list (a declaration may hold thousands of rows).
        ids = [row.person_id for row in p.rows]
        names: dict[int, str] = dict(
            conn.execute("select person_id, name from person_overview where person_id = any(%s)", (ids,))
        )
        on_roster = {
            r[0]
            for r in conn.execute(
                "select person_id from unit_roster where unit_id = %s and end_date is null and person_id = any(%s)",
                (unit_id, ids),
            )
        }
        last_wage: dict[int, Any] = dict(
            conn.execute(
                "select distinct on (person_id) person_id, sum(declared_wage) from contribution_month "
                "where unit_id = %s and insurance = '120' and person_id = any(%s) "
                "group by person_id, period order by person_id, period desc",
                (unit_id, ids),
            )
        )
        for row in p.rows:
            name = names.get(row.person_id)
            who = f"个人编号{row.person_id} {name}" if name else f"个人编号{row.person_id}"
            if row.person_id not in on_roster:
                flags.append(f"{who}不在本单位在册参保名单中")
            old = Decimal(last_wage[row.person_id]) if last_wage.get(row.person_id) is not None else None
            if old is not None and old > 0 and abs(row.monthly_wage / old - 1) > wage_change_ratio:
                flags.append(f"{who}申报工资与上次相差超过{wage_change_ratio:.0%}")
            changes.append(Change(who, f"{p.year}年度月缴费工资", _text(old), str(row.monthly_wage)))
    elif isinstance(p, t.UnitChange | t.UnitContact):
        unit = _one(conn, "select * from unit_overview where unit_id = %s", unit_id)
        if unit:
            sealed.reveal(conn, "unit_overview", [unit])
        labels = {
            "name": "单位名称",
            "address": "地址",
            "contact_name": "联系人",
            "contact_phone": "联系电话",
            "bank_name": "开户银行",
            "bank_account": "银行账号",
        }
        for key, value in p.model_dump(exclude_none=True).items():
            changes.append(Change("单位", labels[key], _text(unit[key]) if unit else NONE, str(value)))
    elif isinstance(p, t.UnitCollect):
        _assess_collection(conn, p, changes, flags)
    return Assessment(changes, flags)


COLLECT_FLAG = "单位首次参保登记（数据采集），请逐项核对单位和人员信息"


def _assess_collection(
    conn: psycopg.Connection[Any], p: t.UnitCollect, changes: list[Change], flags: list[str]
) -> None:
    """A collection is never clean (never bulk or auto approved); known units and persons are flagged."""
    flags.append(COLLECT_FLAG)
    u = p.unit
    taken = _one(conn, "select unit_id from unit_overview where uscc = %s", u.uscc)
    if taken:
        flags.append(f"该统一社会信用代码已登记，单位编号{taken['unit_id']}")
    for label, value in (
        ("统一社会信用代码", u.uscc), ("单位名称", u.name), ("单位类型", u.unit_type), ("财政供款方式", u.funding),
        ("统筹区", u.region_code), ("地址", u.address), ("联系人", u.contact_name), ("联系电话", u.contact_phone),
        ("开户银行", u.bank_name), ("银行账号", u.bank_account),
    ):  # fmt: skip
        changes.append(Change("新登记单位", label, NONE, _text(value)))
    numbers = [row.id_number for row in p.staff] + [ret.id_number for ret in p.retirees]
    # Looked up by blind index; ``known`` maps each number as typed to the registered person.
    by_index = {sealed.blind_index(conn, sealed.PERSON_ID_NUMBER, n): n for n in numbers}
    known = {
        by_index[bytes(bidx)]: person_id
        for bidx, person_id in conn.execute(
            "select id_number_bidx, person_id from person_overview where id_number_bidx = any(%s)",
            ([k for k in by_index if k is not None],),
        )
    }
    for row in p.staff:
        who = f"在职人员 {row.name}"
        if row.id_number in known:
            flags.append(f"{who}的公民身份号码已登记，个人编号{known[row.id_number]}")
        changes.append(Change(who, "公民身份号码", NONE, row.id_number))
        changes.append(Change(who, "参加工作时间", NONE, row.work_start.isoformat()))
        changes.append(Change(who, "参保日期", NONE, row.start_date.isoformat()))
        changes.append(Change(who, "月缴费工资", NONE, str(row.monthly_wage)))
    for ret in p.retirees:
        who = f"离退休人员 {ret.name}"
        if ret.id_number in known:
            flags.append(f"{who}的公民身份号码已登记，个人编号{known[ret.id_number]}")
        changes.append(Change(who, "公民身份号码", NONE, ret.id_number))
        changes.append(Change(who, "离退休日期", NONE, ret.retire_date.isoformat()))
