"""Payload validation per declaration type: every refusal is a Chinese message naming the field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from hub.declarations.types import DeclarationType as T
from hub.declarations.types import canonical, parse
from hub.errors import ValidationFailed
from hub.ids import make_id_number


def messages(type_: T | str, payload: Any) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        parse(type_, payload)
    return [e["message"] for e in info.value.extensions.get("errors", [])] or [info.value.detail]


def test_refusals_in_chinese() -> None:
    assert messages("pension_magic", {}) == ["不支持的申报业务类型"]
    assert messages(T.PERSON_CHANGE, {"person_id": 1}) == ["请至少填写一项变更内容"]
    assert messages(T.PERSON_CHANGE, {"person_id": 1, "name": "改名"}) == ["姓名不是该业务的填写项"]
    assert messages(T.UNIT_CHANGE, {"name": " "}) == ["单位名称不能为空"]
    assert messages(T.UNIT_CONTACT, {"bank_name": "工商银行"}) == ["开户银行和银行账号需同时填写"]
    assert messages(T.UNIT_CONTACT, {"bank_name": "工商银行", "bank_account": "62-22"}) == ["银行账号格式不正确"]
    assert messages(T.ANNUAL_WAGE, {"year": 2025, "rows": [{"person_id": 7, "monthly_wage": "1"}] * 2}) == [
        "个人编号7重复申报"
    ]
    assert messages(T.ANNUAL_WAGE, {"year": 2025, "rows": []}) == ["申报明细至少需要一行"]
    assert messages(T.PERSON_STOP, {"person_id": 1, "stop_date": "2025-02-30", "reason": "调出"}) == [
        "停保日期应为日期（如 2026-01-31）"
    ]
    assert messages(T.PERSON_ENROL, {"person_id": 1, "start_date": "2025-02-01", "monthly_wage": "1000001"}) == [
        "月缴费工资超出允许的范围"
    ]
    assert messages(T.PERSON_ENROL, {"start_date": "2025-02-01", "monthly_wage": "abc"}) == [
        "个人编号必须填写",
        "月缴费工资应为金额",
    ]


def test_canonical_forms() -> None:
    number = make_id_number("370102", date(1990, 3, 7), 21, "2")
    body = canonical(
        T.PERSON_REGISTER,
        {
            "id_number": f" {number[:6]} {number[6:]} ",
            "name": " 孙七 ",
            "work_start": "2012-07-01",
            "phone": "13700001111",
        },
    )
    # blanks removed from the ID number and the name; the default 民族 01 filled in; no empty fields
    assert body == {
        "id_number": number,
        "name": "孙七",
        "ethnicity": "01",
        "work_start": "2012-07-01",
        "phone": "13700001111",
    }
    assert canonical(T.PERSON_ENROL, {"person_id": "3", "start_date": "2025-02-01", "monthly_wage": 8000}) == {
        "person_id": 3,
        "start_date": "2025-02-01",
        "monthly_wage": "8000.00",
    }
