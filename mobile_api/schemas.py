"""What the app receives: small JSON shaped for phone screens (money as decimal strings, dates ISO)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from hub.content.agencies import AgencyNear
from hub.content.articles import ContentSummary
from hub.content.inbox import MessageRead

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(None, description="下一页游标；为空表示没有更多")


class PersonalPage(Page[T], Generic[T]):
    as_of: str = Field(description="数据同步位置")


class Personal(BaseModel, Generic[T]):
    as_of: str = Field(description="数据同步位置")
    data: T


class RealName(BaseModel):
    verified: bool = Field(description="是否已实名认证（注册时已与核心系统核对身份证号和姓名）")
    methods: list[str] = Field(description="本次登录的认证方式，如 pwd、sms")


class Me(BaseModel):
    person_id: int
    name: str | None
    id_number: str | None = Field(description="身份证号（脱敏）")
    phone: str | None = Field(description="手机号（脱敏）")
    region_code: str | None = Field(description="统筹区")
    retired: bool | None
    address: str | None = Field(None, description="通讯地址")
    postal_code: str | None = Field(None, description="邮政编码")
    real_name: RealName


class InsuranceItem(BaseModel):
    insurance: str = Field(description="险种")
    status: str | None = Field(description="参保状态")
    pay_status: str | None = Field(description="缴费状态")
    start_date: date | None


class ContributionItem(BaseModel):
    period: int | None = Field(description="所属期 YYYYMM")
    insurance: str | None
    base: Decimal | None = Field(description="缴费基数")
    personal: Decimal | None = Field(description="个人缴费")
    unit: Decimal | None = Field(description="单位缴费")
    paid: bool | None = Field(description="是否到账")
    real_account: bool | None = Field(description="实账（否为虚账）")


class AccountItem(BaseModel):
    account: str = Field(description="BASIC 基本养老 / ANNUITY 职业年金")
    year: int
    credited: Decimal | None = Field(description="当年记账")
    interest: Decimal | None = Field(description="当年利息")
    closing: Decimal | None = Field(description="年末累计")
    rate: Decimal | None = Field(description="记账利率")


class Card(BaseModel):
    card_no: str | None = Field(description="社保卡号（仅末四位）")
    status: str | None
    bank: str | None
    issued_on: date | None


class Inbox(Page[MessageRead]):
    unread: int = Field(description="未读条数")


class Unread(BaseModel):
    unread: int


class Marked(BaseModel):
    marked: int = Field(description="本次标为已读的条数")


class ContentPage(Page[ContentSummary]):
    pass


class Agencies(BaseModel):
    data: list[AgencyNear]


class JobFair(BaseModel):
    id: str
    title: str
    city: str
    venue: str
    date: date
    organizer: str
    employers: int = Field(ge=0)
    positions: int = Field(ge=0)


class Job(BaseModel):
    id: str
    title: str
    employer: str
    city: str
    salary_min: int | None = Field(None, description="月薪下限（元）")
    salary_max: int | None = Field(None, description="月薪上限（元）")
    education: str | None
    posted: date | None


class Exam(BaseModel):
    id: str
    title: str
    level: str = Field(description="国家 / 省级 / 市级")
    register_from: date | None
    register_to: date | None
    exam_date: date | None
    url: str | None


class MinistryPage(Page[T], Generic[T]):
    source: str = Field("人力资源和社会保障部", description="数据来源")
