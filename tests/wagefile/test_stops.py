"""Batch 人员停保（减员）: the pre-filled template with stop dates and reasons for some persons."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import openpyxl
import pytest

from hub.wagefile import annotated_workbook, read_stop_batch, stop_template
from hub.wagefile.errors import NoData
from hub.wagefile.template import STOP_SHEET
from tests.wagefile.files import SETTINGS, roster

PEOPLE = roster(6)


def filled(cells: dict[str, Any], *, extra_rows: list[list[Any]] | None = None) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(stop_template(PEOPLE, unit_name="单位")))
    ws = wb[STOP_SHEET]
    for ref, value in cells.items():
        ws[ref] = value
    for row in extra_rows or []:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_only_rows_with_a_stop_date_and_reason_are_requests() -> None:
    data = filled({"D3": date(2025, 6, 30), "E3": "调出", "D6": "2025-07-31", "E6": " 退休 ", "F6": "已办退休审批"})
    batch = read_stop_batch(data, PEOPLE, settings=SETTINGS, not_before=date(2025, 1, 1), not_after=date(2025, 12, 31))
    assert batch.errors == []
    got = [(r.row, r.person_id, r.stop_date, r.reason, r.remark) for r in batch.require_clean()]
    assert got == [
        (3, PEOPLE[1].person_id, date(2025, 6, 30), "调出", ""),
        (6, PEOPLE[4].person_id, date(2025, 7, 31), "退休", "已办退休审批"),
    ]


def test_stop_row_errors() -> None:
    outsider = roster(9)[8]
    data = filled(
        {
            "D2": date(2025, 6, 30),  # reason missing
            "E3": "跳槽",  # date missing and reason not in the list
            "D4": date(2024, 12, 31),  # before not_before
            "E4": "辞职",
            "D5": "2025-02-30",  # no such day
            "E5": "死亡",
            "C6": "李四",  # name changed
            "D6": date(2025, 6, 30),
            "E6": "其他",
        },
        extra_rows=[
            ["", PEOPLE[0].id_number, PEOPLE[0].name, date(2025, 6, 30), "调出"],  # row 8: PEOPLE[0] again
            ["", outsider.id_number, outsider.name, date(2025, 6, 30), "调出"],  # row 9: not on the roster
        ],
    )
    batch = read_stop_batch(data, PEOPLE, settings=SETTINGS, not_before=date(2025, 1, 1))
    assert [(e.row, e.letter, e.code) for e in batch.errors] == [
        (2, "E", "reason_missing"),
        (3, "D", "stop_date_missing"),
        (3, "E", "reason_unknown"),
        (4, "D", "date_out_of_range"),
        (5, "D", "date_format"),
        (6, "C", "name_mismatch"),
        (8, "B", "duplicate_person"),
        (9, "B", "unknown_person"),
    ]
    assert "2025-01-01" in batch.errors[3].message
    assert batch.rows == []
    wb = openpyxl.load_workbook(io.BytesIO(annotated_workbook(batch)))
    assert (
        wb[STOP_SHEET]["G3"].value
        == "D列：请填写停保日期；E列：停保原因应为以下之一：调出、辞职、辞退、死亡、退休、其他"
    )


def test_a_template_without_any_stop_is_no_data() -> None:
    with pytest.raises(NoData):
        read_stop_batch(filled({}), PEOPLE, settings=SETTINGS)
