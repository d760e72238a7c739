"""Fixtures of the collection tests: the declaration tests' world (seeded core, real sync, hub DB), the core
API as a real process behind the outbox worker, and a valid collection."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from openpyxl import Workbook

from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.ids import make_id_number, make_uscc
from tests.declarations import kit
from tests.declarations.conftest import World, world

__all__ = ["world"]


@pytest.fixture
def worker(world: World) -> Iterator[OutboxWorker]:
    with kit.core_api(world.dbs.core_url) as api:
        w = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, DeclarationSettings(core_api_url=api.url))
        yield w
        w.close()


def collection(seq: int = 0) -> dict[str, Any]:
    """A unit of 统筹区 370102 with two active staff (insured from 2025-01 at 10,000 and 8,000) and one
    retiree. ID numbers and the USCC are valid (check digits computed by hub.ids)."""
    return {
        "unit": {
            "uscc": make_uscc("11", kit.REGION, 900 + seq),
            "name": "历下区档案馆",
            "unit_type": "30",
            "funding": "1",
            "region_code": kit.REGION,
            "address": "泉城路100号",
            "contact_name": "周敏",
            "contact_phone": f"137{uuid.uuid4().int % 10**8:08d}",
        },
        "staff": [
            {
                "id_number": make_id_number("370102", date(1985, 3, 1), 10 + seq, "1"),
                "name": "陈一",
                "work_start": "2008-07-01",
                "phone": "13900000001",
                "start_date": "2025-01-01",
                "monthly_wage": "10000",
            },
            {
                "id_number": make_id_number("370102", date(1985, 3, 1), 20 + seq, "2"),
                "name": "陈二",
                "work_start": "2009-07-01",
                "phone": "13900000002",
                "start_date": "2025-03-01",
                "monthly_wage": "8000",
            },
        ],
        "retirees": [
            {
                "id_number": make_id_number("370100", date(1955, 3, 1), 30 + seq, "2"),
                "name": "陈三",
                "work_start": "1975-07-01",
                "retire_date": "2010-03-31",
            }
        ],
    }


STAFF_HEADER = [
    "公民身份号码",
    "姓名",
    "参加工作时间",
    "手机号码",
    "参保日期",
    "月缴费工资（元）",
    "民族代码",
    "职务职级",
]
RETIREE_HEADER = ["公民身份号码", "姓名", "参加工作时间", "离退休日期", "手机号码", "民族代码"]


def workbook(staff: list[list[Any]], retirees: list[list[Any]], staff_header: list[str] | None = None) -> bytes:
    """A workbook made by hand (not from the template): header in row 1, people from row 2."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "在职人员"
    for r, values in enumerate([staff_header or STAFF_HEADER, *staff], start=1):
        for c, value in enumerate(values, start=1):
            ws.cell(row=r, column=c, value=value)
    rs = wb.create_sheet("离退休人员")
    for r, values in enumerate([RETIREE_HEADER, *retirees], start=1):
        for c, value in enumerate(values, start=1):
            rs.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def collection_rows(payload: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The collection's people as a clerk types them: real date cells, number cells for wages, text elsewhere."""
    staff = [
        [
            p["id_number"], p["name"], date.fromisoformat(p["work_start"]), p["phone"], p["start_date"],
            int(p["monthly_wage"]),
        ]
        for p in payload["staff"]
    ]  # fmt: skip
    retirees = [
        [p["id_number"], p["name"], p["work_start"].replace("-", "/"), date.fromisoformat(p["retire_date"])]
        for p in payload["retirees"]
    ]
    return staff, retirees
