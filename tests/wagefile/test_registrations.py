"""Batch 人员基本信息登记: new persons, the ID number checked in full and against the other columns."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import openpyxl

from hub.ids import make_id_number
from hub.wagefile import read_registrations, registration_template
from hub.wagefile.template import REGISTRATION_SHEET
from tests.wagefile.files import SETTINGS, roster

STAFF = roster(2)
MAN = make_id_number("430104", date(1995, 5, 20), 3, "1")  # 17th digit odd: male
WOMAN = make_id_number("430104", date(2000, 2, 29), 4, "2")  # born on a leap day


def upload(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(registration_template(unit_name="单位", settings=SETTINGS)))
    ws = wb[REGISTRATION_SHEET]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def good(number: str, name: str, sex: str, birth: date | str, **changes: Any) -> list[Any]:
    row = {
        "id": number,
        "name": name,
        "sex": sex,
        "nation": "汉族",
        "birth": birth,
        "work": date(2018, 7, 1),
        "phone": "13900000000",
        "kind": "事业单位工作人员",
        "start": date(2025, 1, 1),
        "wage": 6800,
    }
    row.update(changes)
    return list(row.values())


def test_clean_rows_are_accepted_with_full_width_input_folded() -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in MAN)
    rows = [
        good(wide, "王 小明", "男", date(1995, 5, 20), phone="139-0000-0000"),
        good(WOMAN, "李丽", "女", "2000年2月29日", work="2018-03-01", wage="７，２００.５０"),
    ]
    batch = read_registrations(upload(rows), STAFF, settings=SETTINGS)
    assert batch.errors == []
    got = [(r.id_number, r.name, r.sex, r.birth_date, r.work_date, r.phone, r.wage) for r in batch.require_clean()]
    assert got == [
        (MAN, "王小明", "1", date(1995, 5, 20), date(2018, 7, 1), "13900000000", Decimal("6800.00")),
        # 16 years after 2000-02-29 is 2016-02-29: work from 2018 is fine
        (WOMAN, "李丽", "2", date(2000, 2, 29), date(2018, 3, 1), "13900000000", Decimal("7200.50")),
    ]


def test_what_the_id_number_encodes_must_agree() -> None:
    bad_check = MAN[:17] + ("0" if MAN[17] != "0" else "1")
    rows = [
        good(MAN, "王小明", "女", date(1995, 5, 21)),  # row 2: sex and birth date disagree with the number
        good(WOMAN, "李丽", "女", date(2000, 2, 29), work=date(2016, 2, 28)),  # row 3: 15 (16 on 2016-02-29)
        good(bad_check, "张三", "男", date(1995, 5, 20)),  # row 4: check digit
        good(STAFF[0].id_number, "周七", "男", date(1990, 1, 1)),  # row 5: already on the roster
        good(MAN, "王小明", "男", date(1995, 5, 20), kind="临时工", phone="12345"),  # row 6: twice, kind, phone
        good(WOMAN[:-1], "赵六", "女", date(2000, 2, 29), start=date(2017, 1, 1), work=date(2018, 1, 1)),  # row 7
    ]
    batch = read_registrations(upload(rows), STAFF, settings=SETTINGS)
    assert [(e.row, e.letter, e.code) for e in batch.errors] == [
        (2, "C", "sex_mismatch"),
        (2, "E", "birth_date_mismatch"),
        (3, "F", "work_date_too_early"),
        (4, "A", "id_checksum"),
        (5, "A", "already_registered"),
        (6, "A", "duplicate_person"),
        (6, "G", "phone_format"),
        (6, "H", "kind_unknown"),
        (7, "A", "id_length"),
        (7, "I", "start_before_work"),
    ]
    assert batch.rows == []
    # No phone number is ever repeated in a message.
    assert all("12345" not in e.message for e in batch.errors)
