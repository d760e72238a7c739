"""What the unit services return."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class UnitOverviewRead(BaseModel):
    unit_id: int
    uscc: str | None = Field(description="统一社会信用代码")
    name: str | None
    unit_type: str | None
    funding: str | None = Field(description="财政供款方式")
    collection: str | None = Field(description="征收方式")
    agency_id: int | None
    region_code: str | None
    status: str | None
    contact_name: str | None = Field(description="联系人（按渠道脱敏）")
    contact_phone: str | None = Field(description="联系电话（按渠道脱敏）")
    address: str | None
    bank_name: str | None
    bank_account: str | None = Field(description="银行账号（按渠道脱敏）")


class RosterEntryRead(BaseModel):
    relation_id: int
    person_id: int | None
    name: str | None = Field(description="姓名（按渠道脱敏）")
    id_number: str | None = Field(description="公民身份号码（按渠道脱敏）")
    start_date: date | None
    end_date: date | None


class UnitMonthTotalRead(BaseModel):
    period: int
    insurance: str
    rows: int
    base_total: Decimal
    unit_amount: Decimal
    person_amount: Decimal
    to_account: Decimal
    due: Decimal
    paid: Decimal
    virtual_unit: Decimal
    arrears: Decimal
