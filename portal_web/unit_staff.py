"""The unit's functions about persons: 人员基本信息登记 (one by form, many by Excel), 人员新参保 (增员),
人员停保 (减员, one by form, many by Excel), 人员续保, 人员普通信息变更, and 离退休人员信息查询.

Every form is filled, checked and shown back for confirmation (核对) before it is submitted: the check step
shows what the ID number encodes, and the 补收 or 退收 that the change will cause, and nothing is stored
until the operator confirms. The form carries an idempotency key made when it was first shown, so a
double submit, a reload or a second tab creates one declaration. Errors come back inline, per field, in
Chinese (the declaration types' own messages), with nothing stored.

A person the operator names (by 个人编号 or by ID number and name) must be one this unit may act on:
another unit's person answers exactly like a missing one. The declarations themselves are made by
``hub.declarations.service.create`` in one hub-DB transaction per request.
"""

import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hub import pg
from hub.access.context import ReadContext
from hub.crypto import columns as sealed
from hub.declarations import service as declarations
from hub.declarations import types as t
from hub.errors import NotFound, ValidationFailed
from hub.ids import InvalidIdentifier, id_birth_date, id_sex, validate_id_number
from hub.persons.estimate_inputs import region_params
from hub.rules.backpay import estimate_back_pay
from hub.rules.params import BASIC_PENSION_AAE140, ParameterMissing, RegionParams
from hub.rules.period import MAX_YEAR, MIN_YEAR, Period
from hub.units import service as units
from hub.units.refund import Refund
from hub.units.refund import estimate as refund_estimate
from hub.wagefile import (
    CellError,
    RosterEntry,
    Upload,
    WagefileError,
    read_registrations,
    read_stop_batch,
    registration_template,
    stop_template,
)
from hub.wagefile.model import column_letter
from hub.wagefile.registrations import MIN_WORKING_AGE
from hub.wagefile.template import REGISTRATION_COLUMNS, STOP_COLUMNS, STOP_REASONS
from portal_web import uploads
from portal_web.ui import csrf_of, page
from portal_web.unit import NAV, _chrome, _operator
from portal_web.uploads import XLSX

PREFIX = "/portal/unit/staff"
UPLOAD_PREFIX = f"{PREFIX}/batch/"
AREA = "staff"  # of the kept uploads (portal_web.uploads)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SUSPENDED = "2"  # AAC031 暂停缴费
NOT_FOUND_PERSON = "本单位没有该人员，请核对个人编号"
NOT_FOUND_ENROL = (
    "未找到可以参保的人员：请核对公民身份号码和姓名。尚未登记的人员请先办理人员基本信息登记；"
    "正在其他单位参保的人员须由原单位先办理停保"
)
ReadDependency = Callable[..., AsyncIterator[ReadContext]]
# Stands in for a person not (yet) identified, so the rest of the form is still checked; the person's own
# error is already recorded, so a payload carrying it is never accepted.
PLACEHOLDER_ID = 1


def today() -> date:
    """The business day (Asia/Shanghai)."""
    return datetime.now(UTC).astimezone(SHANGHAI).date()


# 退收 estimates are hub.units.refund (补收 is hub.rules.backpay).


# Reads of the query store ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    person_id: int
    name: str
    id_number: str
    start_date: date | None = None
    end_date: date | None = None


def _roster(query: psycopg.Connection[Any], unit_id: int) -> list[Person]:
    """The unit's current staff (open relations), full identifiers: for matching and pre-filling only."""
    rows = query.execute(
        "select p.person_id, p.name, p.id_number_enc, r.start_date from unit_roster r join person_overview p "
        "using (person_id) where r.unit_id = %s and r.end_date is null order by p.person_id",
        (unit_id,),
    ).fetchall()
    rows = sealed.open_column(query, sealed.PERSON_ID_NUMBER, rows, key_at=0, value_at=2)
    return [Person(int(a), str(b or ""), str(c or ""), d) for a, b, c, d in rows]


def _resumable(query: psycopg.Connection[Any], unit_id: int) -> list[Person]:
    """Persons whose contributions in this unit are suspended (暂停缴费) and who are insured nowhere now."""
    rows = query.execute(
        "select p.person_id, p.name, p.id_number_enc, "
        "(select max(r.end_date) from unit_roster r where r.person_id = p.person_id and r.unit_id = %(u)s) "
        "from person_insurance i join person_overview p using (person_id) "
        "where i.unit_id = %(u)s and i.insurance = %(ins)s and i.pay_status = %(s)s and not coalesce(p.retired, false) "
        "and not exists (select 1 from unit_roster o where o.person_id = p.person_id and o.end_date is null) "
        "order by p.person_id",
        {"u": unit_id, "ins": BASIC_PENSION_AAE140, "s": SUSPENDED},
    ).fetchall()
    rows = sealed.open_column(query, sealed.PERSON_ID_NUMBER, rows, key_at=0, value_at=2)
    return [Person(int(a), str(b or ""), str(c or ""), None, d) for a, b, c, d in rows]


def _enrollable(query: psycopg.Connection[Any], id_number: str, name: str) -> Person | None:
    """A registered person by full ID number and name, not retired and insured nowhere now; else None.

    A person with an open relation anywhere (this unit included) answers like a missing one.
    """
    found = query.execute(
        "select p.person_id, p.name, p.id_number_enc, p.work_start from person_overview p "
        "where p.id_number_bidx = %s and p.name = %s and not coalesce(p.retired, false) "
        "and not exists (select 1 from unit_roster r where r.person_id = p.person_id and r.end_date is null)",
        (sealed.blind_index(query, sealed.PERSON_ID_NUMBER, id_number), name),
    ).fetchall()
    rows = sealed.open_column(query, sealed.PERSON_ID_NUMBER, found, key_at=0, value_at=2)
    return Person(int(rows[0][0]), str(rows[0][1]), str(rows[0][2]), rows[0][3]) if rows else None


def _registered(query: psycopg.Connection[Any], id_numbers: Sequence[str]) -> set[str]:
    """Which of ``id_numbers`` (as given) belong to a registered person: looked up by blind index."""
    by_index = {sealed.blind_index(query, sealed.PERSON_ID_NUMBER, n): n for n in id_numbers}
    rows = query.execute(
        "select id_number_bidx from person_overview where id_number_bidx = any(%s)",
        ([k for k in by_index if k is not None],),
    ).fetchall()
    return {by_index[bytes(r[0])] for r in rows}


def _codes(query: psycopg.Connection[Any], code_type: str) -> list[tuple[str, str]]:
    rows = query.execute(
        "select value, name from code_table where code_type = %s order by value", (code_type,)
    ).fetchall()
    return [(str(v), str(n)) for v, n in rows]


# Forms ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # text | date | select | tel | money
    required: bool = True
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()
    autocomplete: str = "off"


@dataclass
class Checked:
    """A form after checking: the payload (when valid), the errors per field and what to confirm."""

    payload: dict[str, Any] | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


@dataclass(frozen=True)
class Env:
    """What a form's check needs: the caller's unit, its region parameters and funding, the query store."""

    unit_id: int
    query: psycopg.Connection[Any]
    params: RegionParams | None
    funding: str
    on: date


def _text(values: Mapping[str, str], name: str) -> str:
    return values.get(name, "").strip()


def _date(values: Mapping[str, str], name: str, label: str, out: Checked) -> date | None:
    raw = _text(values, name)
    if not raw:
        out.add(name, f"{label}必须填写")
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        out.add(name, f"{label}应为日期（如 2026-01-31）")
        return None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        out.add(name, f"{label}不正确，请核对年份")
        return None
    return day


def _person_id(values: Mapping[str, str], out: Checked) -> int | None:
    raw = _text(values, "person_id")
    if not raw:
        out.add("person_id", "请选择人员")
        return None
    if not raw.isdigit() or len(raw) > 18:
        out.add("person_id", NOT_FOUND_PERSON)
        return None
    return int(raw)


def _parse(kind: t.DeclarationType, payload: dict[str, Any], out: Checked) -> None:
    """The declaration type's own validation; its per-field errors join the form's."""
    try:
        t.parse(kind, payload)
    except ValidationFailed as exc:
        for err in exc.extensions.get("errors", [{"field": "", "message": exc.detail}]):
            name = str(err.get("field") or "").split(".")[0]
            message = str(err["message"])
            label = t.FIELD_LABELS.get(name, "姓名" if name == "name" else "")
            if label and message.startswith(label + label):
                message = message[len(label) :]  # a validator's message that names its field already
            if message not in out.errors.get(name, []):
                out.add(name, message)
    if not out.errors:
        out.payload = t.canonical(kind, payload)


def _money_text(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f} 元"


def _back_pay_notice(env: Env, start: date, wage_raw: str, what: str) -> list[str]:
    first, now = Period.of(start), Period.of(env.on)
    if first >= now:
        return []
    months = now - first
    text = (
        f"{what}日期早于本月，审核办结后将补收 {first.year}年{first.month:02d}月至 "
        f"{(now - 1).year}年{(now - 1).month:02d}月共 {months} 个月的费用"
    )
    try:
        wage = Decimal(wage_raw)
    except ArithmeticError:
        wage = None
    if env.params is not None and wage is not None and wage > 0:
        est = estimate_back_pay(env.params, env.funding, start, env.on, wage)
        if est.total is not None:
            text += f"，按本统筹区各月缴费基数上下限和费率估算约 {_money_text(est.total)}（单位和个人部分合计）"
            if est.book > 0:
                text += f"，另职业年金单位缴费 {_money_text(est.book)} 记账（虚账），无需实际缴纳"
    return [text + "。实际金额以经办机构核定为准；办结月份晚于本月的，补收月数相应增加。"]


def check_register(values: Mapping[str, str], env: Env) -> Checked:
    out = Checked()
    raw_id = _text(values, "id_number").upper()
    payload: dict[str, Any] = {
        "id_number": raw_id,
        "name": _text(values, "name"),
        "work_start": _text(values, "work_start"),
        "phone": _text(values, "phone"),
    }
    for optional in ("ethnicity", "position_level"):
        if _text(values, optional):
            payload[optional] = _text(values, optional)
    number: str | None = None
    try:
        number = validate_id_number(raw_id) if raw_id else None
    except InvalidIdentifier:
        number = None  # the payload's validation words it
    if number is not None and _registered(env.query, [number]):
        out.add("id_number", "该公民身份号码已登记，无需重复登记；如需在本单位参保，请办理人员新参保（增员）")
    work = None
    try:
        work = date.fromisoformat(payload["work_start"]) if payload["work_start"] else None
    except ValueError:
        work = None
    if number is not None and work is not None:
        birth = id_birth_date(number)
        if work < _years_after(birth, MIN_WORKING_AGE):
            out.add("work_start", f"参加工作时未满{MIN_WORKING_AGE}周岁，请核对参加工作时间")
        elif work > env.on:
            out.add("work_start", "参加工作时间不能晚于今天")
    nations = dict(_codes(env.query, "AAC005"))
    if payload.get("ethnicity") and nations and payload["ethnicity"] not in nations:
        out.add("ethnicity", "请从列表中选择民族")
    _parse(t.DeclarationType.PERSON_REGISTER, payload, out)
    if out.payload is not None and number is not None:
        out.facts = [
            ("姓名", out.payload["name"]),
            ("公民身份号码", number),
            ("性别（由身份号码确定）", "男" if id_sex(number) == "1" else "女"),
            ("出生日期（由身份号码确定）", id_birth_date(number).isoformat()),
            ("民族", nations.get(out.payload.get("ethnicity", "01"), out.payload.get("ethnicity", "01"))),
            ("参加工作时间", out.payload["work_start"]),
            ("手机号码", out.payload["phone"]),
            ("职务职级", out.payload.get("position_level", "（未填写）")),
        ]
        out.notices = ["登记办结后，请在“人员新参保（增员）”中为其办理参保缴费。"]
    return out


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


def check_enrol(values: Mapping[str, str], env: Env) -> Checked:
    out = Checked()
    raw_id, name = _text(values, "id_number").upper(), _text(values, "name")
    person: Person | None = None
    if not raw_id:
        out.add("id_number", "公民身份号码必须填写")
    if not name:
        out.add("name", "姓名必须填写")
    if raw_id and name:
        try:
            person = _enrollable(env.query, validate_id_number(raw_id), name)
        except InvalidIdentifier as exc:
            out.add("id_number", exc.message)
        else:
            if person is None:
                out.add("id_number", NOT_FOUND_ENROL)
    start = _date(values, "start_date", "参保日期", out)
    if start is not None:
        if Period.of(start) > Period.of(env.on):
            out.add("start_date", "参保日期不能晚于本月")
        elif person is not None and person.start_date is not None and start < person.start_date:
            out.add("start_date", "参保日期不能早于参加工作时间")
    wage_raw = _text(values, "monthly_wage").replace(",", "")
    payload = {"person_id": person.person_id if person else PLACEHOLDER_ID, "start_date": _text(values, "start_date")}
    payload["monthly_wage"] = wage_raw
    _parse(t.DeclarationType.PERSON_ENROL, payload, out)
    if out.payload is not None and person is not None and start is not None:
        out.facts = [
            ("个人编号", str(person.person_id)),
            ("姓名", person.name),
            ("参保日期", start.isoformat()),
            ("月缴费工资", _money_text(Decimal(out.payload["monthly_wage"]))),
        ]
        out.notices = _back_pay_notice(env, start, out.payload["monthly_wage"], "参保")
    return out


def check_stop(values: Mapping[str, str], env: Env) -> Checked:
    out = Checked()
    pid = _person_id(values, out)
    person = next((p for p in _roster(env.query, env.unit_id) if p.person_id == pid), None) if pid else None
    if pid is not None and person is None:
        out.add("person_id", NOT_FOUND_PERSON)
    stop = _date(values, "stop_date", "停保日期", out)
    if stop is not None and person is not None and person.start_date is not None and stop < person.start_date:
        out.add("stop_date", f"停保日期不能早于本次参保日期 {person.start_date.isoformat()}")
    reason = _text(values, "reason")
    if reason and reason not in STOP_REASONS:
        out.add("reason", f"停保原因应为以下之一：{'、'.join(STOP_REASONS)}")
    payload = {"person_id": pid or PLACEHOLDER_ID, "stop_date": _text(values, "stop_date"), "reason": reason}
    _parse(t.DeclarationType.PERSON_STOP, payload, out)
    if out.payload is not None and person is not None and stop is not None:
        out.facts = [
            ("个人编号", str(person.person_id)),
            ("姓名", person.name),
            ("停保日期", stop.isoformat()),
            ("停保原因", reason),
        ]
        out.notices = _refund_notice(refund_estimate(env.query, env.unit_id, person.person_id, stop), stop)
    return out


def _refund_notice(refund: Refund, stop: date) -> list[str]:
    if refund.months == 0:
        return [f"{stop.year}年{stop.month:02d}月以后没有已核定的缴费，不产生退收。"]
    text = (
        f"停保月（{stop.year}年{stop.month:02d}月）以后已核定 {refund.months} 个月的缴费，审核办结后将退收，"
        f"共约 {_money_text(refund.total)}"
    )
    if refund.paid > 0:
        text += f"，其中已缴纳的 {_money_text(refund.paid)} 将退还"
    return [text + "。实际金额以经办机构核定为准。"]


def check_resume(values: Mapping[str, str], env: Env) -> Checked:
    out = Checked()
    pid = _person_id(values, out)
    person = next((p for p in _resumable(env.query, env.unit_id) if p.person_id == pid), None) if pid else None
    if pid is not None and person is None:
        out.add("person_id", NOT_FOUND_PERSON)
    resume = _date(values, "resume_date", "续保日期", out)
    if resume is not None:
        if Period.of(resume) > Period.of(env.on):
            out.add("resume_date", "续保日期不能晚于本月")
        elif person is not None and person.end_date is not None and Period.of(resume) <= Period.of(person.end_date):
            out.add("resume_date", f"续保月份应晚于停保月份（{person.end_date.year}年{person.end_date.month:02d}月）")
    wage_raw = _text(values, "monthly_wage").replace(",", "")
    payload = {
        "person_id": pid or PLACEHOLDER_ID,
        "resume_date": _text(values, "resume_date"),
        "monthly_wage": wage_raw,
    }
    _parse(t.DeclarationType.PERSON_RESUME, payload, out)
    if out.payload is not None and person is not None and resume is not None:
        out.facts = [
            ("个人编号", str(person.person_id)),
            ("姓名", person.name),
            ("续保日期", resume.isoformat()),
            ("月缴费工资", _money_text(Decimal(out.payload["monthly_wage"]))),
        ]
        out.notices = _back_pay_notice(env, resume, out.payload["monthly_wage"], "续保")
    return out


def check_change(values: Mapping[str, str], env: Env) -> Checked:
    out = Checked()
    pid = _person_id(values, out)
    person = next((p for p in _roster(env.query, env.unit_id) if p.person_id == pid), None) if pid else None
    if pid is not None and person is None:
        out.add("person_id", NOT_FOUND_PERSON)
    payload: dict[str, Any] = {"person_id": pid or PLACEHOLDER_ID}
    for name in ("phone", "ethnicity", "position_level"):
        if _text(values, name):
            payload[name] = _text(values, name)
    nations = dict(_codes(env.query, "AAC005"))
    if payload.get("ethnicity") and nations and payload["ethnicity"] not in nations:
        out.add("ethnicity", "请从列表中选择民族")
    _parse(t.DeclarationType.PERSON_CHANGE, payload, out)
    if out.payload is not None and person is not None:
        out.facts = [("个人编号", str(person.person_id)), ("姓名", person.name)]
        labels = {"phone": "新手机号码", "ethnicity": "民族", "position_level": "职务职级"}
        for name, label in labels.items():
            if name in out.payload:
                value = str(out.payload[name])
                out.facts.append((label, nations.get(value, value) if name == "ethnicity" else value))
    return out


@dataclass(frozen=True)
class FormSpec:
    slug: str
    kind: t.DeclarationType
    title: str
    intro: str
    check: Callable[[Mapping[str, str], Env], Checked]
    fields: Callable[[Env, Mapping[str, Any]], list[FormField]]


def _masked_choices(people: Sequence[Person], masked: Callable[[Person], str]) -> tuple[tuple[str, str], ...]:
    return (("", "请选择"), *tuple((str(p.person_id), masked(p)) for p in people))


def _register_fields(env: Env, extra: Mapping[str, Any]) -> list[FormField]:
    nations = (("", "请选择（默认汉族）"), *tuple(_codes(env.query, "AAC005")))
    return [
        FormField("id_number", "公民身份号码", hint="18位，末位X请大写；性别和出生日期由号码确定"),
        FormField("name", "姓名", hint="与身份证一致"),
        FormField("ethnicity", "民族", "select", required=False, options=nations),
        FormField("work_start", "参加工作时间", "date", hint="格式如 2012-07-01"),
        FormField("phone", "手机号码", "tel", hint="本人11位手机号码，用于接收办结通知"),
        FormField("position_level", "职务职级", required=False, hint="可不填，最多10个字"),
    ]


def _enrol_fields(env: Env, extra: Mapping[str, Any]) -> list[FormField]:
    return [
        FormField("id_number", "公民身份号码", hint="已登记人员的18位公民身份号码"),
        FormField("name", "姓名", hint="与登记信息一致"),
        FormField("start_date", "参保日期", "date", hint="本单位起薪日期；早于本月的将补收"),
        FormField("monthly_wage", "月缴费工资（元）", "money", hint="大于0，最多两位小数，如 6500.00"),
    ]


def _stop_fields(env: Env, extra: Mapping[str, Any]) -> list[FormField]:
    return [
        FormField("person_id", "停保人员", "select", options=extra["roster"]),
        FormField("stop_date", "停保日期", "date", hint="停止缴费的日期；停保月以后已核定的缴费将退收"),
        FormField("reason", "停保原因", "select", options=(("", "请选择"), *tuple((r, r) for r in STOP_REASONS))),
    ]


def _resume_fields(env: Env, extra: Mapping[str, Any]) -> list[FormField]:
    return [
        FormField("person_id", "续保人员", "select", options=extra["resumable"], hint="本单位暂停缴费的人员"),
        FormField("resume_date", "续保日期", "date", hint="恢复缴费的日期；早于本月的将补收"),
        FormField("monthly_wage", "月缴费工资（元）", "money", hint="大于0，最多两位小数"),
    ]


def _change_fields(env: Env, extra: Mapping[str, Any]) -> list[FormField]:
    nations = (("", "不变更"), *tuple(_codes(env.query, "AAC005")))
    return [
        FormField("person_id", "变更人员", "select", options=extra["roster"]),
        FormField("phone", "新手机号码", "tel", required=False, hint="不变更请留空"),
        FormField("ethnicity", "民族", "select", required=False, options=nations),
        FormField("position_level", "职务职级", required=False, hint="不变更请留空，最多10个字"),
    ]


FORMS: dict[str, FormSpec] = {
    spec.slug: spec
    for spec in (
        FormSpec(
            "register",
            t.DeclarationType.PERSON_REGISTER,
            "人员基本信息登记",
            "登记尚未在社会保险系统中登记过的人员。登记办结后再办理人员新参保（增员）。",
            check_register,
            _register_fields,
        ),
        FormSpec(
            "enrol",
            t.DeclarationType.PERSON_ENROL,
            "人员新参保（增员）",
            "为已登记、目前未在任何单位参保的人员办理在本单位参保缴费。参保日期早于本月的，将补收此前各月的费用。",
            check_enrol,
            _enrol_fields,
        ),
        FormSpec(
            "stop",
            t.DeclarationType.PERSON_STOP,
            "人员停保（减员）",
            "本单位在职人员调出、辞职、退休等，办理停止缴费。停保月以后已核定的缴费将退收。",
            check_stop,
            _stop_fields,
        ),
        FormSpec(
            "resume",
            t.DeclarationType.PERSON_RESUME,
            "人员续保（恢复缴费）",
            "本单位暂停缴费的人员恢复缴费。续保日期早于本月的，将补收此前各月的费用。",
            check_resume,
            _resume_fields,
        ),
        FormSpec(
            "change",
            t.DeclarationType.PERSON_CHANGE,
            "人员普通信息变更",
            "变更本单位在职人员的手机号码、民族或职务职级。姓名、公民身份号码的更正请持证件到经办机构柜台办理。",
            check_change,
            _change_fields,
        ),
    )
}
FORM_FIELDS = {
    "register": ("id_number", "name", "ethnicity", "work_start", "phone", "position_level"),
    "enrol": ("id_number", "name", "start_date", "monthly_wage"),
    "stop": ("person_id", "stop_date", "reason"),
    "resume": ("person_id", "resume_date", "monthly_wage"),
    "change": ("person_id", "phone", "ethnicity", "position_level"),
}


# Batch files -----------------------------------------------------------------------------------------


def _error(batch: Upload[Any], columns: Sequence[Any], row: int, key: str, code: str, message: str) -> CellError:
    label = next((c.label for c in columns if c.key == key), None)
    index = batch.columns.get(key)
    letter = column_letter(batch.col_offset + index) if index is not None else None
    return CellError(row, label, letter, code, message)


_REGISTER_KEYS = {"id_number": "id_number", "name": "name", "work_start": "work_date", "phone": "phone"}


def registrations_payloads(batch: Upload[Any], query: psycopg.Connection[Any], on: date) -> list[dict[str, Any]]:
    """The person_register payloads of a batch the reader accepted; adds row errors for what the payload or
    the province refuses (already registered elsewhere, no phone, an unknown 民族)."""
    nations = {name: value for value, name in _codes(query, "AAC005")}
    taken = _registered(query, [r.id_number for r in batch.rows])
    payloads: list[dict[str, Any]] = []
    for r in batch.rows:
        errors: list[CellError] = []
        if r.id_number in taken:
            errors.append(
                _error(
                    batch,
                    REGISTRATION_COLUMNS,
                    r.row,
                    "id_number",
                    "already_registered",
                    "该人员已登记，请办理人员新参保（增员）",
                )
            )
        if not r.phone:
            errors.append(_error(batch, REGISTRATION_COLUMNS, r.row, "phone", "phone_missing", "手机号码不能为空"))
        nation = r.nation if r.nation.endswith("族") or not r.nation else f"{r.nation}族"
        if nation and nation not in nations:
            errors.append(_error(batch, REGISTRATION_COLUMNS, r.row, "nation", "nation_unknown", "民族名称不正确"))
        if r.work_date > on:
            errors.append(
                _error(batch, REGISTRATION_COLUMNS, r.row, "work_date", "work_date_future", "参加工作日期不能晚于今天")
            )
        payload = {"id_number": r.id_number, "name": r.name, "work_start": r.work_date.isoformat(), "phone": r.phone}
        if nation:
            payload["ethnicity"] = nations.get(nation, "")
        if not errors:
            try:
                payload = t.canonical(t.DeclarationType.PERSON_REGISTER, payload)
            except ValidationFailed as exc:
                for err in exc.extensions.get("errors", []):
                    key = _REGISTER_KEYS.get(str(err.get("field", "")), "id_number")
                    errors.append(_error(batch, REGISTRATION_COLUMNS, r.row, key, "invalid", str(err["message"])))
        batch.errors.extend(errors)
        payloads.append(payload)
    batch.errors.sort(key=lambda e: (e.row or 0, e.letter or ""))
    return payloads


def stops_payloads(batch: Upload[Any], roster: Sequence[Person]) -> list[dict[str, Any]]:
    """The person_stop payloads of a batch the reader accepted; adds row errors for stop dates before the
    person's current insurance began."""
    starts = {p.person_id: p.start_date for p in roster}
    payloads: list[dict[str, Any]] = []
    for r in batch.rows:
        start = starts.get(int(r.person_id))
        if start is not None and r.stop_date < start:
            batch.errors.append(
                _error(
                    batch,
                    STOP_COLUMNS,
                    r.row,
                    "stop_date",
                    "before_start",
                    f"停保日期不能早于本次参保日期 {start.isoformat()}",
                )
            )
            continue
        reason = f"{r.reason}（{r.remark}）" if r.remark else r.reason
        payloads.append(
            t.canonical(
                t.DeclarationType.PERSON_STOP,
                {"person_id": int(r.person_id), "stop_date": r.stop_date.isoformat(), "reason": reason[:100]},
            )
        )
    batch.errors.sort(key=lambda e: (e.row or 0, e.letter or ""))
    return payloads


# The router ----------------------------------------------------------------------------------------------


def router(read_dependency: ReadDependency) -> APIRouter:
    """The unit's person functions under /portal/unit/staff; ``read_dependency`` yields the ReadContext."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def chrome(ctx: ReadContext, current: str) -> dict[str, Any]:
        return {**_chrome(ctx, current), "nav": NAV}

    async def unit_params(ctx: ReadContext, unit_id: int) -> tuple[RegionParams | None, str]:
        """The unit's region parameters (None when not published) and its 财政供款 code, for the estimates."""
        unit = (await units.get_overview(ctx, unit_id)).data
        try:
            params: RegionParams | None = await region_params(ctx.conn, unit.region_code or "")
        except ParameterMissing:
            params = None
        return params, unit.funding or "1"

    def masked(ctx: ReadContext) -> Callable[[Person], str]:
        return lambda p: f"{p.person_id} {ctx.mask.name(p.name) or ''} {ctx.mask.id_number(p.id_number) or ''}".strip()

    async def render_form(
        request: Request,
        ctx: Reading,
        spec: FormSpec,
        *,
        values: Mapping[str, str],
        errors: Mapping[str, list[str]] | None = None,
        checked: Checked | None = None,
        key: str,
        status: int = 200,
    ) -> Response:
        subject, unit_id = _operator(ctx)
        ep = request.app.state.endpoints

        def lists() -> list[FormField]:
            with pg.connect(ep.query_db_url) as query:
                env = Env(unit_id, query, None, "1", today())
                extra: dict[str, Any] = {}
                if spec.slug in ("stop", "change"):
                    extra["roster"] = _masked_choices(_roster(query, unit_id), masked(ctx))
                if spec.slug == "resume":
                    extra["resumable"] = _masked_choices(_resumable(query, unit_id), masked(ctx))
                return spec.fields(env, extra)

        fields = await run_in_threadpool(lists)
        if spec.slug in ("stop", "change", "resume"):
            await ctx.audit.record(ctx.caller, f"unit.staff.{spec.slug}.list", "unit", str(unit_id), "ok")
        all_errors = dict(errors or {})
        general = all_errors.pop("", [])
        return page(
            request,
            "portal/unit_staff_form.html",
            status=status,
            subject=subject,
            title=spec.title,
            spec=spec,
            fields=fields,
            values=values,
            errors=all_errors,
            general_errors=general,
            error_count=sum(len(v) for v in (errors or {}).values()),
            checked=checked,
            key=key,
            **chrome(ctx, f"{PREFIX}/{spec.slug}"),
        )

    @r.get("/retired")
    async def retired(
        request: Request, ctx: Reading, page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1
    ) -> Response:
        """离退休人员信息查询: persons whose last unit was this one and who have retired, with their benefit."""
        subject, unit_id = _operator(ctx)
        size = 50
        cur = await ctx.conn.execute(
            # From the unit's roster (indexed by unit): retirees whose latest relation is with this unit.
            "select p.person_id, p.name, p.id_number_enc, p.sex, coalesce(b.retire_date, p.retire_date), b.method, "
            "b.monthly_total, b.approved_on from unit_roster r join person_overview p using (person_id) "
            "left join benefit b on b.person_id = p.person_id "
            "where r.unit_id = %s and coalesce(p.retired, false) and not exists (select 1 from unit_roster o "
            "where o.person_id = r.person_id and (o.start_date > r.start_date "
            "or (o.start_date = r.start_date and o.relation_id > r.relation_id))) "
            "order by coalesce(b.retire_date, p.retire_date) desc nulls last, p.person_id limit %s offset %s",
            (unit_id, size + 1, (page_no - 1) * size),
        )
        rows = await sealed.open_column_async(
            ctx.conn, sealed.PERSON_ID_NUMBER, await cur.fetchall(), key_at=0, value_at=2
        )
        await ctx.audit.record(ctx.caller, "unit.retired", "unit", str(unit_id), f"ok:{min(len(rows), size)}")
        people = [
            {
                "person_id": pid,
                "name": ctx.mask.name(name),
                "id_number": ctx.mask.id_number(idn),
                "sex": {"1": "男", "2": "女"}.get(str(sex), "—"),
                "retire_date": rd,
                "method": method,
                "monthly_total": total,
                "approved_on": approved,
            }
            for pid, name, idn, sex, rd, method, total, approved in rows[:size]
        ]
        return page(
            request,
            "portal/unit_staff_retired.html",
            subject=subject,
            title="离退休人员信息查询",
            people=people,
            page_no=page_no,
            more=len(rows) > size,
            **chrome(ctx, f"{PREFIX}/retired"),
        )

    @r.get("/{slug}")
    async def form(request: Request, ctx: Reading, slug: str) -> Response:
        """A blank form with a new idempotency key."""
        spec = FORMS.get(slug)
        if spec is None:
            raise NotFound()
        return await render_form(request, ctx, spec, values={}, key=secrets.token_urlsafe(18))

    @r.post("/{slug}")
    async def post(request: Request, ctx: Reading, slug: str) -> Response:
        """``step=check``: check and show for confirmation; ``step=submit``: check again and create (idempotent
        by the form's key), then go to the declaration; ``step=edit``: back to the filled form."""
        spec = FORMS.get(slug)
        if spec is None:
            raise NotFound()
        subject, unit_id = _operator(ctx)
        form = await request.form(max_files=0, max_fields=20)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        values = {name: fields.get(name, "")[:200] for name in FORM_FIELDS[slug]}
        key = fields.get("key", "")
        if not 0 < len(key) <= 64:
            key = secrets.token_urlsafe(18)  # a form without its key starts afresh
        step = fields.get("step", "check")
        if step == "edit":
            return await render_form(request, ctx, spec, values=values, key=key)
        ep = request.app.state.endpoints
        params, funding = await unit_params(ctx, unit_id)

        def check() -> Checked:
            with pg.connect(ep.query_db_url) as query:
                return spec.check(values, Env(unit_id, query, params, funding, today()))

        checked = await run_in_threadpool(check)
        if checked.payload is None:
            await ctx.audit.record(ctx.caller, f"unit.staff.{slug}", "unit", str(unit_id), "invalid")
            return await render_form(request, ctx, spec, values=values, errors=checked.errors, key=key, status=422)
        if step != "submit":
            return await render_form(request, ctx, spec, values=values, checked=checked, key=key)
        payload = checked.payload

        def work() -> int:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url) as query:
                decl = declarations.create(hub, query, subject, spec.kind, payload, f"{slug}:{key}", submit=True)
                hub.commit()
                return decl.id

        declaration_id = await run_in_threadpool(work)
        return RedirectResponse(f"/portal/unit/declarations/{declaration_id}", status_code=303)

    # Batch files ---------------------------------------------------------------------------------------

    BATCHES = {"register": "人员基本信息登记（批量）", "stop": "人员停保（减员）（批量）"}

    def batch_base(ctx: ReadContext, kind: str) -> dict[str, Any]:
        return {"title": BATCHES[kind], "kind": kind, **chrome(ctx, f"{PREFIX}/{kind}")}

    @r.get("/batch/{kind}")
    async def batch_page(request: Request, ctx: Reading, kind: str) -> Response:
        """Batch registration or batch stop: template download and upload."""
        if kind not in BATCHES:
            raise NotFound()
        subject, _ = _operator(ctx)
        return page(request, "portal/unit_staff_batch.html", subject=subject, **batch_base(ctx, kind))

    @r.get("/batch/{kind}/template.xlsx")
    async def batch_template(request: Request, ctx: Reading, kind: str) -> Response:
        """The xlsx template; the stop template lists the current staff."""
        if kind not in BATCHES:
            raise NotFound()
        _, unit_id = _operator(ctx)
        unit = (await units.get_overview(ctx, unit_id)).data
        name = unit.name or str(unit_id)
        if kind == "register":
            body = registration_template(unit_name=name, settings=request.app.state.settings.wagefile)
        else:
            ep = request.app.state.endpoints

            def roster() -> list[Person]:
                with pg.connect(ep.query_db_url) as query:
                    return _roster(query, unit_id)

            people = await run_in_threadpool(roster)
            entries = [RosterEntry(str(p.person_id), p.id_number, p.name) for p in people]
            body = stop_template(entries, unit_name=name, on=today())
        await ctx.audit.record(ctx.caller, f"unit.staff.{kind}_template", "unit", str(unit_id), "ok")
        return Response(
            body,
            media_type=XLSX,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{kind}-template.xlsx",
                "Cache-Control": "no-store",
            },
        )

    @r.post("/batch/{kind}/upload")
    async def batch_upload(request: Request, ctx: Reading, kind: str) -> Response:
        """Read and check a whole file: row errors (and an annotated workbook) or a preview; stores nothing."""
        if kind not in BATCHES:
            raise NotFound()
        subject, unit_id = _operator(ctx)
        form = await request.form(max_files=1, max_fields=5)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        base = {"subject": subject, **batch_base(ctx, kind)}
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return page(request, "portal/unit_staff_batch.html", status=422, problem="请选择要上传的文件", **base)
        data = await file.read()
        ep = request.app.state.endpoints
        on = today()

        def read() -> tuple[Upload[Any], list[dict[str, Any]], list[dict[str, Any]]]:
            with pg.connect(ep.query_db_url) as query:
                roster = _roster(query, unit_id)
                entries = [RosterEntry(str(p.person_id), p.id_number, p.name) for p in roster]
                if kind == "register":
                    batch: Upload[Any] = read_registrations(data, entries, settings=request.app.state.settings.wagefile)
                    payloads = registrations_payloads(batch, query, on)
                    shown = [
                        {
                            "row": x.row,
                            "name": x.name,
                            "id_number": ctx.mask.id_number(x.id_number),
                            "sex": "男" if x.sex == "1" else "女",
                            "birth_date": x.birth_date,
                            "work_date": x.work_date,
                            "kind": x.kind,
                            "start_date": x.start_date,
                            "wage": x.wage,
                        }
                        for x in batch.rows
                    ]
                else:
                    batch = read_stop_batch(data, entries, settings=request.app.state.settings.wagefile)
                    payloads = stops_payloads(batch, roster)
                    shown = []
                    for x in batch.rows:
                        refund = refund_estimate(query, unit_id, int(x.person_id), x.stop_date)
                        shown.append(
                            {
                                "row": x.row,
                                "person_id": x.person_id,
                                "name": ctx.mask.name(x.name),
                                "stop_date": x.stop_date,
                                "reason": x.reason,
                                "refund_months": refund.months,
                                "refund": refund.total,
                            }
                        )
                return batch, payloads, shown

        try:
            batch, payloads, shown = await run_in_threadpool(read)
        except WagefileError as exc:
            code = exc.extensions.get("code", exc.status)
            await ctx.audit.record(ctx.caller, f"unit.staff.{kind}_upload", "unit", str(unit_id), f"refused:{code}")
            return page(request, "portal/unit_staff_batch.html", status=exc.status, problem=exc.detail, **base)
        if not batch.ok:
            await ctx.audit.record(
                ctx.caller, f"unit.staff.{kind}_upload", "unit", str(unit_id), f"errors:{len(batch.errors)}"
            )
            return page(
                request,
                "portal/unit_staff_batch.html",
                status=422,
                errors=[e.describe() for e in batch.errors],
                error_count=len(batch.errors),
                annotated_token=await uploads.keep_annotated(request, AREA, unit_id, batch),
                **base,
            )
        token = await uploads.keep(request, AREA, unit_id, kind=kind, payloads=payloads)
        await ctx.audit.record(ctx.caller, f"unit.staff.{kind}_upload", "unit", str(unit_id), f"ok:{len(payloads)}")
        return page(request, "portal/unit_staff_batch.html", preview=shown, token=token, **base)

    @r.get("/batch/annotated/{ref}")
    async def batch_annotated(request: Request, ctx: Reading, ref: str) -> Response:
        _, unit_id = _operator(ctx)
        return await uploads.annotated_response(request, AREA, unit_id, ref, "errors.xlsx")

    @r.post("/batch/{kind}/submit")
    async def batch_submit(request: Request, ctx: Reading, kind: str) -> Response:
        """Submit a previewed file: one declaration per row, all in one transaction, idempotent by the token."""
        if kind not in BATCHES:
            raise NotFound()
        subject, unit_id = _operator(ctx)
        form = await request.form(max_files=0, max_fields=5)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        token = fields.get("token", "")
        stored = await uploads.load(request, AREA, unit_id, token)
        if stored is None or stored.get("kind") != kind or "payloads" not in stored:
            raise ValidationFailed("预览已过期，请重新上传文件")
        type_ = t.DeclarationType.PERSON_REGISTER if kind == "register" else t.DeclarationType.PERSON_STOP
        ep = request.app.state.endpoints

        def work() -> None:
            # One transaction: every row of the file becomes a declaration, or none does.
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url) as query:
                for i, payload in enumerate(stored["payloads"]):
                    declarations.create(hub, query, subject, type_, payload, f"batch-{kind}:{token}:{i}", submit=True)
                hub.commit()

        await run_in_threadpool(work)
        return RedirectResponse("/portal/unit/declarations", status_code=303)

    return r


__all__ = ["PREFIX", "UPLOAD_PREFIX", "router"]
