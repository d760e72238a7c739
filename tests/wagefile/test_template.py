"""Downloadable templates: pre-filled roster, protected header, validation, instructions."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from hub.rules.period import Period
from hub.wagefile import RosterEntry, declaration_template, read_declaration, registration_template, stop_template
from hub.wagefile.container import inspect
from hub.wagefile.template import DECLARATION_SHEET, HELP_SHEET, REGISTRATION_SHEET, STOP_REASONS, STOP_SHEET
from tests.wagefile.files import SETTINGS, YEAR, params, roster


def load(data: bytes, sheet: str) -> tuple[openpyxl.Workbook, Worksheet]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return wb, wb[sheet]


def validations(ws: Worksheet) -> dict[str, tuple[str, str | None, str | None]]:
    return {str(dv.sqref): (dv.type, dv.formula1, dv.formula2) for dv in ws.data_validations.dataValidation}


def test_declaration_template_is_prefilled_and_protected() -> None:
    people = roster(4)
    data = declaration_template(
        people, year=YEAR, unit_name="长沙市测试局", settings=SETTINGS, params=params(), period=Period(2025, 1)
    )
    wb, ws = load(data, DECLARATION_SHEET)
    assert wb.sheetnames == [DECLARATION_SHEET, HELP_SHEET]
    assert [c.value for c in ws[1]] == [
        "序号",
        "个人编号",
        "公民身份号码*",
        "姓名*",
        "申报月平均工资（元）*",
        "起薪日期",
        "备注",
    ]
    assert ws.protection.sheet is True
    assert ws.freeze_panes == "A2"
    assert all(c.protection.locked for c in ws[1])  # the header cannot be overwritten
    assert all(c.comment is not None for c in ws[1])
    for r, person in enumerate(people, start=2):
        ident = [ws.cell(row=r, column=c) for c in (2, 3, 4)]
        assert [c.value for c in ident] == [person.person_id, person.id_number, person.name]
        assert all(c.data_type == "s" and c.protection.locked for c in ident)
        assert ws.cell(row=r, column=3).number_format == "@"
        assert not any(ws.cell(row=r, column=c).protection.locked for c in (5, 6, 7))
    assert ws.max_row == len(people) + 1
    assert validations(ws) == {
        "E2:E5": ("decimal", "0.01", "200000"),
        "F2:F5": ("date", "DATE(1950,1,1)", "DATE(2199,12,31)"),
    }
    text = "\n".join(str(c.value) for c in wb[HELP_SHEET]["A"] if c.value)
    assert "长沙市测试局 2024年度缴费工资申报" in text and "共4人" in text
    # The bounds from the parameters: 8,000.00 × 60 % = 4,800.00 and 8,000.00 × 300 % = 24,000.00.
    assert "下限为 4,800.00 元、上限为 24,000.00 元（2024年度社会平均工资 8,000.00 元的 60%～300%）" in text


def test_bounds_are_described_without_numbers_before_the_average_wage_is_published() -> None:
    # No 2025 average wage yet: the bounds for 2026-01 are unknown, so no number is guessed.
    data = declaration_template(
        roster(1), year=2025, unit_name="单位", settings=SETTINGS, params=params(), period=Period(2026, 1)
    )
    wb, _ = load(data, DECLARATION_SHEET)
    text = "\n".join(str(c.value) for c in wb[HELP_SHEET]["A"] if c.value)
    assert "缴费基数上下限" in text and "元的" not in text


def test_names_are_written_as_text_even_when_they_look_like_formulas() -> None:
    people = [RosterEntry("43000000001", roster(1)[0].id_number, '=HYPERLINK("http://x","点我")')]
    data = declaration_template(people, year=YEAR, unit_name="单位", settings=SETTINGS)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet
    scan = inspect(data, SETTINGS)
    assert scan.sheets[DECLARATION_SHEET].formulas == []
    _, ws = load(data, DECLARATION_SHEET)
    assert ws["D2"].data_type == "s" and ws["D2"].value == people[0].name


def test_unfilled_template_reports_each_missing_wage() -> None:
    people = roster(2)
    data = declaration_template(people, year=YEAR, unit_name="单位", settings=SETTINGS)
    d = read_declaration(data, people, year=YEAR, settings=SETTINGS)
    assert [(e.row, e.letter, e.code) for e in d.errors] == [(2, "E", "wage_missing"), (3, "E", "wage_missing")]


def test_registration_template() -> None:
    wb, ws = load(registration_template(unit_name="单位", settings=SETTINGS), REGISTRATION_SHEET)
    assert wb.sheetnames == [REGISTRATION_SHEET, HELP_SHEET]
    assert ws["A1"].value == "公民身份号码*" and ws["C1"].value == "性别*"
    assert ws.protection.sheet is True and ws["A1"].protection.locked
    assert not ws["A2"].protection.locked and not ws["J501"].protection.locked
    found = validations(ws)
    assert found["C2:C501"] == ("list", '"男,女"', None)
    assert found["A2:A501"] == ("textLength", "18", None)
    assert found["E2:E501"][0] == "date"


def test_stop_template() -> None:
    people = roster(3)
    wb, ws = load(stop_template(people, unit_name="单位", on=date(2025, 6, 30)), STOP_SHEET)
    assert [c.value for c in ws[1]] == ["个人编号", "公民身份号码*", "姓名*", "停保日期*", "停保原因*", "备注"]
    assert [ws.cell(row=r, column=3).value for r in range(2, 5)] == [p.name for p in people]
    assert validations(ws)["E2:E4"] == ("list", '"' + ",".join(STOP_REASONS) + '"', None)
    assert "2025-06-30" in "".join(str(c.value) for c in wb[HELP_SHEET]["A"] if c.value)
