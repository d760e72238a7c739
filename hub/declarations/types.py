"""The declaration types and their typed payloads.

A payload is validated here once, when a unit saves or submits it; what is stored (JSON) and what the
core receives is the payload's canonical form (``model_dump(mode="json")``: money as decimal strings).
Errors are reported per field in Chinese.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.collect import model as collect_model
from hub.errors import ValidationFailed
from hub.ids import InvalidIdentifier, validate_id_number


class DeclarationType(StrEnum):
    PERSON_REGISTER = "person_register"
    PERSON_CHANGE = "person_change"
    PERSON_ENROL = "person_enrol"
    PERSON_STOP = "person_stop"
    PERSON_RESUME = "person_resume"
    ANNUAL_WAGE = "annual_wage"
    UNIT_CHANGE = "unit_change"
    UNIT_CONTACT = "unit_contact"
    UNIT_COLLECT = "unit_collect"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS: dict[DeclarationType, str] = {
    DeclarationType.PERSON_REGISTER: "人员基本信息登记",
    DeclarationType.PERSON_CHANGE: "人员普通信息变更",
    DeclarationType.PERSON_ENROL: "人员新参保（增员）",
    DeclarationType.PERSON_STOP: "人员停保（减员）",
    DeclarationType.PERSON_RESUME: "人员续保",
    DeclarationType.ANNUAL_WAGE: "年度缴费工资申报",
    DeclarationType.UNIT_CHANGE: "单位信息变更",
    DeclarationType.UNIT_CONTACT: "单位银行账户与联系人维护",
    DeclarationType.UNIT_COLLECT: "单位参保登记（数据采集）",
}

_PHONE = re.compile(r"1[3-9]\d{9}")
_CENT = Decimal("0.01")
MAX_WAGE = Decimal("1000000")  # a monthly wage above this is a typing error, not a wage

# Money is stored and sent with two decimals ("9000.00"), so a repeated submission of the same amount
# written differently ("9000") is the same content.
Money = Annotated[
    Decimal, Field(gt=0, le=MAX_WAGE, max_digits=9, decimal_places=2), AfterValidator(lambda v: v.quantize(_CENT))
]
Text50 = Annotated[str, Field(min_length=1, max_length=50)]
PersonId = Annotated[int, Field(gt=0)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _phone(value: str | None) -> str | None:
    if value is not None and not _PHONE.fullmatch(value):
        raise ValueError("手机号码应为11位数字")
    return value


class PersonRegister(_Payload):
    """人员基本信息登记: a person new to the core (sex and birth date come from the ID number)."""

    id_number: str
    name: Text50
    ethnicity: Annotated[str, Field(pattern=r"^\d{2}$")] = "01"
    work_start: date
    phone: str
    position_level: Annotated[str | None, Field(max_length=10)] = None

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str) -> str:
        try:
            return validate_id_number(value)
        except InvalidIdentifier as exc:
            raise ValueError(exc.message) from None

    @field_validator("phone")
    @classmethod
    def _phone_ok(cls, value: str | None) -> str | None:
        return _phone(value)


class PersonChange(_Payload):
    """人员普通信息变更: fields that are not identity (name and ID number change only at the counter)."""

    person_id: PersonId
    phone: str | None = None
    ethnicity: Annotated[str | None, Field(pattern=r"^\d{2}$")] = None
    position_level: Annotated[str | None, Field(max_length=10)] = None

    @field_validator("phone")
    @classmethod
    def _phone_ok(cls, value: str | None) -> str | None:
        return _phone(value)

    @model_validator(mode="after")
    def _something(self) -> PersonChange:
        if self.phone is None and self.ethnicity is None and self.position_level is None:
            raise ValueError("请至少填写一项变更内容")
        return self


class PersonEnrol(_Payload):
    """人员新参保 (增员); a start date before the current month makes the core plan 补收 for the months since."""

    person_id: PersonId
    start_date: date
    monthly_wage: Money


class PersonStop(_Payload):
    """人员停保 / 中断缴费 (减员); months already planned after the stop month are reversed (退收)."""

    person_id: PersonId
    stop_date: date
    reason: Annotated[str, Field(min_length=1, max_length=100)]


class PersonResume(_Payload):
    """人员续保 (恢复缴费) in the unit where the person's contributions were suspended."""

    person_id: PersonId
    resume_date: date
    monthly_wage: Money


class WageRow(_Payload):
    person_id: PersonId
    monthly_wage: Money


class AnnualWage(_Payload):
    """年度缴费工资申报: each person's 缴费工资 (the monthly wage of the year before) for ``year``."""

    year: Annotated[int, Field(ge=2014, le=2199)]
    rows: Annotated[list[WageRow], Field(min_length=1, max_length=100_000)]

    @model_validator(mode="after")
    def _unique(self) -> AnnualWage:
        seen: set[int] = set()
        for row in self.rows:
            if row.person_id in seen:
                raise ValueError(f"个人编号{row.person_id}重复申报")
            seen.add(row.person_id)
        return self


class UnitChange(_Payload):
    """单位信息变更 (name, address)."""

    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    address: Annotated[str | None, Field(min_length=1, max_length=200)] = None

    @model_validator(mode="after")
    def _something(self) -> UnitChange:
        if self.name is None and self.address is None:
            raise ValueError("请至少填写一项变更内容")
        return self


class UnitContact(_Payload):
    """单位银行账户与联系人维护."""

    contact_name: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    contact_phone: str | None = None
    bank_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    bank_account: Annotated[str | None, Field(pattern=r"^\d{8,30}$")] = None

    @field_validator("contact_phone")
    @classmethod
    def _phone_ok(cls, value: str | None) -> str | None:
        return _phone(value)

    @model_validator(mode="after")
    def _something(self) -> UnitContact:
        if all(v is None for v in (self.contact_name, self.contact_phone, self.bank_name, self.bank_account)):
            raise ValueError("请至少填写一项变更内容")
        if (self.bank_name is None) != (self.bank_account is None):
            raise ValueError("开户银行和银行账号需同时填写")
        return self


class UnitCollect(collect_model.UnitCollect, _Payload):
    """数据采集: a unit not yet in the core with its staff and retirees (``hub/collect/model.py``)."""


PAYLOADS: dict[DeclarationType, type[_Payload]] = {
    DeclarationType.PERSON_REGISTER: PersonRegister,
    DeclarationType.PERSON_CHANGE: PersonChange,
    DeclarationType.PERSON_ENROL: PersonEnrol,
    DeclarationType.PERSON_STOP: PersonStop,
    DeclarationType.PERSON_RESUME: PersonResume,
    DeclarationType.ANNUAL_WAGE: AnnualWage,
    DeclarationType.UNIT_CHANGE: UnitChange,
    DeclarationType.UNIT_CONTACT: UnitContact,
    DeclarationType.UNIT_COLLECT: UnitCollect,
}

FIELD_LABELS = {
    "id_number": "公民身份号码",
    "ethnicity": "民族",
    "work_start": "参加工作时间",
    "phone": "手机号码",
    "position_level": "职务职级",
    "person_id": "个人编号",
    "start_date": "参保日期",
    "stop_date": "停保日期",
    "resume_date": "续保日期",
    "monthly_wage": "月缴费工资",
    "reason": "原因",
    "year": "申报年度",
    "rows": "申报明细",
    "address": "地址",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "bank_name": "开户银行",
    "bank_account": "银行账号",
}
for _key, _label in collect_model.FIELD_LABELS.items():
    FIELD_LABELS.setdefault(_key, _label)

_MESSAGES = {
    "missing": "必须填写",
    "extra_forbidden": "不是该业务的填写项",
    "greater_than": "必须大于0",
    "less_than_equal": "超出允许的范围",
    "greater_than_equal": "超出允许的范围",
    "decimal_max_places": "最多保留两位小数",
    "decimal_max_digits": "金额过大",
    "decimal_parsing": "应为金额",
    "decimal_type": "应为金额",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "date_parsing": "应为日期（如 2026-01-31）",
    "date_from_datetime_parsing": "应为日期（如 2026-01-31）",
    "date_type": "应为日期（如 2026-01-31）",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "string_type": "应为文字",
    "too_short": "至少需要一行",
    "too_long": "行数超过上限",
    "list_type": "应为列表",
}


def _location(loc: tuple[int | str, ...], kind: DeclarationType) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"第{item + 1}行")
        elif item == "name":
            unit_name = kind is DeclarationType.UNIT_CHANGE or (
                kind is DeclarationType.UNIT_COLLECT and loc[0] == "unit"
            )
            parts.append("单位名称" if unit_name else "姓名")
        else:
            parts.append(FIELD_LABELS.get(item, item))
    return "".join(parts)


def parse(type_: DeclarationType | str, payload: Any) -> _Payload:
    """Validate ``payload`` for ``type_``; raises ``ValidationFailed`` listing every error per field."""
    try:
        kind = DeclarationType(type_)
    except ValueError:
        raise ValidationFailed("不支持的申报业务类型") from None
    try:
        return PAYLOADS[kind].model_validate(payload)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            if err["type"] == "value_error":
                message = str(err["ctx"].get("error", "")) if "ctx" in err else str(err["msg"])
            else:
                message = _MESSAGES.get(err["type"], "填写不正确")
            where = _location(tuple(err["loc"]), kind)
            errors.append(
                {"field": ".".join(str(p) for p in err["loc"]), "message": f"{where}{message}" if where else message}
            )
        raise ValidationFailed("申报内容有误，请按提示修改", errors=errors) from None


def canonical(type_: DeclarationType, payload: Any) -> dict[str, Any]:
    """The stored and transmitted form of a valid payload (None fields dropped)."""
    return parse(type_, payload).model_dump(mode="json", exclude_none=True)
