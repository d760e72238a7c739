"""What the person services return (pydantic, plain names; masked per channel before they leave)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Read(BaseModel, Generic[T]):
    """One answer and the sync position it reflects."""

    as_of: str = Field(description="查询库已反映的核心系统快照（同步位置）")
    data: T


class Page(BaseModel, Generic[T]):
    as_of: str = Field(description="查询库已反映的核心系统快照（同步位置）")
    data: list[T]
    next_cursor: str | None = Field(None, description="下一页游标；为空表示没有更多记录")


class PersonOverviewRead(BaseModel):
    person_id: int
    id_type: str | None
    id_number: str | None = Field(description="公民身份号码（按渠道脱敏）")
    name: str | None = Field(description="姓名（按渠道脱敏）")
    sex: str | None
    ethnicity: str | None
    birth_date: date | None
    work_start: date | None
    phone: str | None = Field(description="手机号码（按渠道脱敏）")
    region_code: str | None = Field(description="统筹区编码")
    retired: bool | None
    retire_date: date | None
    position_level: str | None
    address: str | None = Field(None, description="通讯地址（自助终端、热线仅显示省市部分）")
    postal_code: str | None = Field(None, description="邮政编码（自助终端、热线仅显示前2位）")


class InsuranceRead(BaseModel):
    insurance: str = Field(description="险种类型（120 机关事业单位养老；职业年金按参数）")
    unit_id: int | None
    status: str | None = Field(description="参保状态")
    start_date: date | None
    pay_status: str | None = Field(description="缴费状态")
    first_period: int | None = Field(description="首次参保年月 YYYYMM")
    deemed_months: int | None = Field(description="视同缴费月数")


class ContributionRead(BaseModel):
    detail_id: int
    unit_id: int | None
    insurance: str | None
    period: int | None = Field(description="费款所属期 YYYYMM")
    kind: str | None
    declared_wage: Decimal | None
    base: Decimal | None = Field(description="缴费基数")
    unit_amount: Decimal | None
    personal_amount: Decimal | None
    to_account: Decimal | None = Field(description="划入个人账户")
    real_account: bool | None = Field(description="实账（否为虚账）")
    paid: bool | None = Field(description="是否到账")
    paid_on: date | None


class AccountYearRead(BaseModel):
    account: str = Field(description="BASIC 基本养老个人账户 / ANNUITY 职业年金账户")
    year: int
    opening: Decimal | None
    credited: Decimal | None
    interest: Decimal | None
    closing: Decimal | None
    rate: Decimal | None = Field(description="记账利率")


class BenefitItemRead(BaseModel):
    item: str
    amount: Decimal | None


class BenefitRead(BaseModel):
    retire_date: date | None
    method: str | None
    monthly_total: Decimal | None = Field(description="核定养老金")
    monthly_paid: Decimal | None = Field(description="实发养老金")
    annuity_monthly: Decimal | None = Field(description="职业年金月领（税后）")
    approved_on: date | None
    items: list[BenefitItemRead]


class BenefitPaymentRead(BaseModel):
    period: int
    amount: Decimal | None
    paid_on: date | None


class CardRead(BaseModel):
    card_no: str | None = Field(description="社会保障卡卡号（按渠道脱敏）")
    status: str | None
    bank: str | None
    issued_on: date | None


class StatementLineRead(BaseModel):
    year: int
    insurance: str
    months: int = Field(description="缴费记录条数")
    base_total: Decimal
    unit_amount: Decimal
    person_amount: Decimal
    to_account: Decimal
    due: Decimal
    paid: Decimal
    virtual_unit: Decimal = Field(description="虚账单位缴费")
    arrears: Decimal = Field(description="欠缴")
