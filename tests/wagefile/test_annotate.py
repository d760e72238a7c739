"""The error workbook: uploaded rows in place, wrong cells highlighted, an error column, a full list."""

from __future__ import annotations

import io
import zipfile

import openpyxl

from hub.wagefile import annotated_workbook, read_declaration
from hub.wagefile.annotate import ERROR_COLUMN, ERROR_LIST_SHEET
from hub.wagefile.template import DECLARATION_SHEET
from tests.wagefile.files import SETTINGS, YEAR, roster, rows_for, xlsx


def test_annotated_workbook_marks_cells_and_can_be_fixed_and_uploaded_again() -> None:
    people = roster(4)
    rows = rows_for(people[:3], [6500, "abc", -5])
    rows[0][6] = '=HYPERLINK("http://example.invalid","x")'  # a formula in the remark column
    d = read_declaration(xlsx(rows), people, year=YEAR, settings=SETTINGS)
    codes = [(e.row, e.letter, e.code) for e in d.errors]
    assert codes == [
        (2, "G", "formula"),
        (3, "E", "amount_format"),
        (4, "E", "amount_not_positive"),
        (None, None, "person_missing"),
    ]

    data = annotated_workbook(d)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [DECLARATION_SHEET, ERROR_LIST_SHEET]
    ws = wb[DECLARATION_SHEET]
    assert ws["H1"].value == ERROR_COLUMN
    assert ws["C3"].value == people[1].id_number  # rows stay where they were uploaded
    bad = ws["E3"]
    assert bad.value == "abc"
    assert bad.fill.fgColor.rgb.endswith("FFC7CE")
    assert bad.comment is not None and "金额" in bad.comment.text
    assert ws["E2"].comment is None and not ws["E2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert ws["H2"].value.startswith("G列：单元格含有公式")
    assert ws["H4"].value == "E列：金额必须大于0"
    # Nothing in the annotated file is a formula.
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml

    listing = [[c.value for c in r] for r in wb[ERROR_LIST_SHEET].iter_rows(min_row=2)]
    assert [(r[0], r[1], r[3]) for r in listing] == [
        (2, "G", "formula"),
        (3, "E", "amount_format"),
        (4, "E", "amount_not_positive"),
        ("全表", None, "person_missing"),
    ]

    # The clerk fixes the cells in the annotated file and uploads it as it is.
    ws["G2"].value = ""
    ws["E3"].value = 7000
    ws["E4"].value = 5000
    ws.append(["", people[3].person_id, people[3].id_number, people[3].name, 6600])
    out = io.BytesIO()
    wb.save(out)
    again = read_declaration(out.getvalue(), people, year=YEAR, settings=SETTINGS)
    assert again.errors == []
    assert [str(r.wage) for r in again.rows] == ["6500.00", "7000.00", "5000.00", "6600.00"]


def test_rows_and_columns_keep_their_place_when_the_table_starts_at_b3() -> None:
    people = roster(2)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = DECLARATION_SHEET
    for c, h in enumerate(["公民身份号码", "姓名", "申报月平均工资（元）"], start=2):
        ws.cell(row=3, column=c, value=h)
    wages: list[int | str] = [6500, "x"]
    for r, (person, wage) in enumerate(zip(people, wages, strict=True), start=4):
        ws.cell(row=r, column=2, value=person.id_number)
        ws.cell(row=r, column=3, value=person.name)
        ws.cell(row=r, column=4, value=wage)
    out = io.BytesIO()
    wb.save(out)
    d = read_declaration(out.getvalue(), people, year=YEAR, settings=SETTINGS)
    assert [(e.row, e.letter) for e in d.errors] == [(5, "D")]
    annotated = openpyxl.load_workbook(io.BytesIO(annotated_workbook(d)))[DECLARATION_SHEET]
    assert annotated["B3"].value == "公民身份号码" and annotated["E3"].value == ERROR_COLUMN
    assert annotated["D5"].value == "x" and annotated["D5"].comment is not None
    assert annotated["E5"].value.startswith("D列：") and annotated["A5"].value is None
