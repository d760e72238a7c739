"""The payload of an initial collection (数据采集): unit information, active staff and retirees.

Kept free of the declaration modules (``hub.declarations.types`` registers it as ``unit_collect``), so the
offline version (单机版) validates with exactly the same rules without a hub database.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.ids import InvalidIdentifier, id_birth_date, validate_id_number, validate_uscc

_PHONE = re.compile(r"1[3-9]\d{9}")
_CENT = Decimal("0.01")
MAX_ROWS = 5000  # persons per collection (a form, not a bulk channel)
MAX_WAGE = Decimal("1000000")

Money = Annotated[
    Decimal, Field(gt=0, le=MAX_WAGE, max_digits=9, decimal_places=2), AfterValidator(lambda v: v.quantize(_CENT))
]
Name = Annotated[str, Field(min_length=1, max_length=50)]
Ethnicity = Annotated[str, Field(pattern=r"^\d{2}$")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError("手机号码应为11位数字")
    return value


def id_number(value: str) -> str:
    try:
        return validate_id_number(value)
    except InvalidIdentifier as exc:
        raise ValueError(exc.message) from None


class UnitInfo(_Payload):
    """单位基本信息 as the unit fills it in (AB01)."""

    uscc: str
    name: Annotated[str, Field(min_length=1, max_length=100)]
    unit_type: Annotated[str, Field(pattern=r"^\d{2,3}$")]  # AAB019: 3x 机关, 5x 事业单位
    funding: Literal["1", "2", "3"]  # 财政供款: 1 全额 2 差额 3 自收自支
    region_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    address: Annotated[str, Field(min_length=1, max_length=200)]
    contact_name: Name
    contact_phone: str
    bank_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    bank_account: Annotated[str | None, Field(pattern=r"^\d{8,30}$")] = None

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str) -> str:
        try:
            return validate_uscc(value)
        except InvalidIdentifier as exc:
            raise ValueError(exc.message) from None

    @field_validator("contact_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return phone(value)

    @model_validator(mode="after")
    def _bank(self) -> UnitInfo:
        if (self.bank_name is None) != (self.bank_account is None):
            raise ValueError("开户银行和银行账号需同时填写")
        return self


class StaffRow(_Payload):
    """在职人员: registered and insured from ``start_date`` at ``monthly_wage``."""

    id_number: str
    name: Name
    ethnicity: Ethnicity = "01"
    work_start: date
    phone: str
    position_level: Annotated[str | None, Field(max_length=10)] = None
    start_date: date
    monthly_wage: Money

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str) -> str:
        return id_number(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return phone(value)

    @model_validator(mode="after")
    def _dates(self) -> StaffRow:
        if self.work_start <= id_birth_date(self.id_number):
            raise ValueError("参加工作时间应晚于出生日期")
        if self.start_date < self.work_start:
            raise ValueError("参保日期不能早于参加工作时间")
        return self


class RetireeRow(_Payload):
    """离退休人员: registered as retired on ``retire_date``."""

    id_number: str
    name: Name
    ethnicity: Ethnicity = "01"
    work_start: date
    retire_date: date
    phone: str | None = None

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str) -> str:
        return id_number(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else phone(value)

    @model_validator(mode="after")
    def _dates(self) -> RetireeRow:
        if self.work_start <= id_birth_date(self.id_number):
            raise ValueError("参加工作时间应晚于出生日期")
        if self.retire_date <= self.work_start:
            raise ValueError("离退休日期应晚于参加工作时间")
        return self


class UnitCollect(_Payload):
    """数据采集: one unit with its active staff and retirees, opened in the core as a whole or not at all."""

    unit: UnitInfo
    staff: Annotated[list[StaffRow], Field(max_length=MAX_ROWS)] = []
    retirees: Annotated[list[RetireeRow], Field(max_length=MAX_ROWS)] = []

    @model_validator(mode="after")
    def _rows(self) -> UnitCollect:
        if not self.staff and not self.retirees:
            raise ValueError("请至少填写一名在职人员或离退休人员")
        seen: set[str] = set()
        rows: list[StaffRow | RetireeRow] = [*self.staff, *self.retirees]
        for row in rows:
            if row.id_number in seen:
                raise ValueError(f"{row.name}的公民身份号码重复填写")
            seen.add(row.id_number)
        return self


FIELD_LABELS = {
    "unit": "单位信息",
    "staff": "在职人员",
    "retirees": "离退休人员",
    "uscc": "统一社会信用代码",
    "unit_type": "单位类型",
    "funding": "财政供款方式",
    "region_code": "统筹区",
    "address": "单位地址",
    "contact_name": "联系人",
    "contact_phone": "联系人手机号码",
    "bank_name": "开户银行",
    "bank_account": "银行账号",
    "id_number": "公民身份号码",
    "ethnicity": "民族",
    "work_start": "参加工作时间",
    "phone": "手机号码",
    "position_level": "职务职级",
    "start_date": "参保日期",
    "monthly_wage": "月缴费工资",
    "retire_date": "离退休日期",
}
