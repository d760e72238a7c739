"""Reading an uploaded declaration: every row checked against the roster, errors per row and column."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from hub.wagefile import Declaration, RosterEntry, WagefileSettings, read_declaration
from hub.wagefile.errors import DeclarationRejected, MissingColumns, NoData
from tests.wagefile.files import HEADERS, SETTINGS, YEAR, filled_template, ods, roster, rows_for, xls, xlsx


def read(data: bytes, people: list[RosterEntry]) -> Declaration:
    return read_declaration(data, people, year=YEAR, settings=SETTINGS)


def errors_of(d: Declaration) -> list[tuple[int | None, str | None, str]]:
    return [(e.row, e.letter, e.code) for e in d.errors]


def test_a_filled_template_is_accepted() -> None:
    people = roster(3)
    d = read(filled_template(people, [6500, "7,200.50", 8000.25]), people)
    assert d.kind == "xlsx"
    assert d.errors == []
    assert [r.wage for r in d.require_clean()] == [Decimal(6500), Decimal("7200.50"), Decimal("8000.25")]
    assert [r.person_id for r in d.rows] == [p.person_id for p in people]
    assert [r.row for r in d.rows] == [2, 3, 4]


def test_full_width_digits_and_stray_spaces_are_normalised() -> None:
    people = roster(2)
    p0, p1 = people
    wide_id = " " + p0.id_number[:6] + "\u3000" + "".join(chr(ord(c) + 0xFEE0) for c in p0.id_number[6:]) + " "
    rows = [
        [1, p0.person_id, wide_id, " " + p0.name[:1] + " " + p0.name[1:], "６５００．００", "", ""],
        [2, " " + p1.person_id + " ", p1.id_number, p1.name, " 7 000 ", "", ""],
    ]
    d = read(xlsx(rows), people)
    assert d.errors == []
    assert [(r.id_number, r.wage) for r in d.rows] == [
        (p0.id_number, Decimal("6500.00")),
        (p1.id_number, Decimal(7000)),
    ]


def test_every_row_error_is_reported_with_its_row_and_column() -> None:
    people = roster(9)
    p = people
    wrong_check = p[2].id_number[:17] + ("0" if p[2].id_number[17] != "0" else "1")
    outsider = roster(12)[11]
    rows = [
        [1, p[0].person_id, p[0].id_number, p[0].name, 6500, "", ""],  # row 2: clean
        [2, p[1].person_id, p[1].id_number, "王五", 6500, "", ""],  # row 3: name differs from the roster
        [3, p[2].person_id, wrong_check, p[2].name, 6500, "", ""],  # row 4: check digit wrong
        [4, outsider.person_id, outsider.id_number, outsider.name, 6500, "", ""],  # row 5: not on the roster
        [5, p[0].person_id, p[0].id_number, p[0].name, 6600, "", ""],  # row 6: duplicate of row 2
        [6, p[3].person_id, p[3].id_number, p[3].name, -1, "", ""],  # row 7: negative
        [7, p[4].person_id, p[4].id_number, p[4].name, "6500.123", "", ""],  # row 8: three decimals
        [8, p[5].person_id, p[5].id_number, p[5].name, 250000, "", ""],  # row 9: over max_monthly_wage
        [9, p[6].person_id, p[6].id_number, p[6].name, "", "", ""],  # row 10: wage missing
        [10, "4300000000", p[7].id_number, p[7].name, 6500, "2023-05-01", ""],  # row 11: 个人编号, start date
        [11, p[8].person_id, p[8].id_number, p[8].name, 6500, "2024-02-30", ""],  # row 12: no such date
    ]
    d = read(xlsx(rows), people)
    assert errors_of(d) == [
        (3, "D", "name_mismatch"),
        (4, "C", "id_checksum"),
        (5, "C", "unknown_person"),
        (6, "C", "duplicate_person"),
        (7, "E", "amount_not_positive"),
        (8, "E", "amount_decimals"),
        (9, "E", "wage_out_of_range"),
        (10, "E", "wage_missing"),
        (11, "B", "person_id_mismatch"),
        (11, "F", "date_out_of_range"),
        (12, "F", "date_format"),
        (None, None, "person_missing"),  # p[2]: the only row naming them has a wrong ID number
    ]
    by_row = {e.row: e for e in d.errors if e.row is not None}
    assert by_row[6].message == "与第2行是同一人，每人只能填写一行"
    assert p[1].name in by_row[3].message  # the roster's spelling is shown
    assert by_row[3].describe().startswith("第3行D列（姓名）：")
    assert [r.row for r in d.rows] == [2]  # only the clean row, and nothing is accepted:
    with pytest.raises(DeclarationRejected) as exc:
        d.require_clean()
    assert exc.value.status == 422
    assert exc.value.extensions["code"] == "row_errors"
    assert len(exc.value.extensions["errors"]) == len(d.errors)


def test_a_person_of_the_roster_without_a_row_is_an_error_of_the_whole_file() -> None:
    people = roster(3)
    d = read(xlsx(rows_for(people[:2], [6500, 6500])), people)
    assert errors_of(d) == [(None, None, "person_missing")]
    assert people[2].name in d.errors[0].message
    assert d.errors[0].describe() == d.errors[0].message


def test_missing_staff_may_be_allowed_by_settings() -> None:
    people = roster(3)
    d = read_declaration(
        xlsx(rows_for(people[:2], [6500, 6500])), people, year=YEAR, settings=WagefileSettings(require_all_staff=False)
    )
    assert d.ok and len(d.require_clean()) == 2


def test_start_dates_as_serial_text_or_date_cell() -> None:
    people = roster(3)
    rows = rows_for(people, [6500, 6500, 6500])
    rows[0][5] = date(2024, 3, 1)  # a date cell
    rows[1][5] = 45366  # serial: 2024-03-15 is 45366 days after 1899-12-30
    rows[2][5] = "２０２４年３月"  # text, month only: its first day
    d = read(xlsx(rows), people)
    assert d.errors == []
    assert [r.start_date for r in d.rows] == [date(2024, 3, 1), date(2024, 3, 15), date(2024, 3, 1)]


def test_an_id_number_stored_as_a_number_is_refused() -> None:
    people = roster(1)
    rows = rows_for(people, [6500])
    rows[0][2] = int(people[0].id_number[:15])  # what Excel keeps of a long number typed without a quote
    d = read(xlsx(rows), people)
    assert errors_of(d)[0] == (2, "C", "id_numeric")


def test_formula_cells_are_reported_not_evaluated() -> None:
    people = roster(2)
    rows = rows_for(people, ["=6000+500", 6500])
    d = read(xlsx(rows), people)
    assert errors_of(d) == [(2, "E", "formula")]
    assert "公式" in d.errors[0].message
    assert [r.row for r in d.rows] == [3]


def test_header_found_below_a_title_and_columns_in_another_order() -> None:
    people = roster(2)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "我的申报"
    ws["B1"] = "2024年度缴费工资申报表"
    headers = ["姓名", "申报工资（元）*", "身份证号码", "备注"]
    for c, h in enumerate(headers, start=2):
        ws.cell(row=3, column=c, value=h)
    for r, person in enumerate(people, start=4):
        ws.cell(row=r, column=2, value=person.name)
        ws.cell(row=r, column=3, value=-1 if r == 5 else 6500)
        ws.cell(row=r, column=4, value=person.id_number)
    out = io.BytesIO()
    wb.save(out)
    d = read(out.getvalue(), people)
    assert (d.sheet, d.header_row) == ("我的申报", 3)
    # The data start in column B: the error still names the sheet's own column letter (C) and row.
    assert errors_of(d) == [(5, "C", "amount_not_positive")]
    assert d.errors[0].column == "申报月平均工资（元）"


def test_missing_columns_and_empty_files() -> None:
    people = roster(1)
    with pytest.raises(MissingColumns) as exc:
        read(xlsx([["x"]], headers=["序号", "姓名", "工资"]), people)
    assert "公民身份号码" in exc.value.detail
    assert exc.value.status == 422
    with pytest.raises(NoData):
        read(xlsx([]), people)


def test_ods_written_by_hand_is_read_like_xlsx() -> None:
    people = roster(3)
    rows = rows_for(people, [Decimal("6500.50"), "7000", -3])
    rows[0][5] = date(2024, 6, 1)
    d = read(ods(rows, trailing_empty_rows=1_048_000), people)
    assert d.kind == "ods"
    assert errors_of(d) == [(4, "E", "amount_not_positive")]
    assert [(r.wage, r.start_date) for r in d.rows] == [(Decimal("6500.5"), date(2024, 6, 1)), (Decimal(7000), None)]


def test_ods_formula_cell() -> None:
    people = roster(2)
    d = read(ods(rows_for(people, [6500, 6500]), formulas={(2, 4): "of:=[.E2]*2"}), people)
    assert errors_of(d) == [(3, "E", "formula")]


def test_xls_written_by_xlwt() -> None:
    people = roster(3)
    rows = rows_for(people, [6500.5, "7,000.00", 0])
    rows[1][5] = date(2024, 2, 1)
    d = read(xls(rows), people)
    assert d.kind == "xls"
    assert errors_of(d) == [(4, "E", "amount_not_positive")]
    assert [(r.wage, r.start_date) for r in d.rows] == [
        (Decimal("6500.5"), None),
        (Decimal("7000.00"), date(2024, 2, 1)),
    ]


def test_xls_formula_cell() -> None:
    people = roster(2)
    rows = rows_for(people, [6500, ""])
    d = read(xls(rows, formulas={(2, 4): "E2*2"}), people)
    assert errors_of(d) == [(3, "E", "formula")]


def test_the_template_headers_are_what_the_parser_expects() -> None:
    people = roster(1)
    d = read(filled_template(people, [6500]), people)
    assert [h.rstrip("*") if isinstance(h, str) else h for h in d.headers] == HEADERS
