"""Builders of real spreadsheet files for the wagefile tests: xlsx (openpyxl), xls (xlwt), ods and
malicious zips written by hand with zipfile."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import openpyxl
import xlwt  # type: ignore[import-untyped]  # xlwt ships no type hints

from hub.ids import make_id_number
from hub.rules.params import ANNUITY_AAE140, BoundRow, ParamRow, RateRow, RegionParams, WageRow
from hub.wagefile import RosterEntry, WagefileSettings, declaration_template
from hub.wagefile.template import DECLARATION_SHEET

HEADERS = ["序号", "个人编号", "公民身份号码", "姓名", "申报月平均工资（元）", "起薪日期", "备注"]
SETTINGS = WagefileSettings()
YEAR = 2024


def roster(n: int, *, region: str = "430104") -> list[RosterEntry]:
    """``n`` persons with valid ID numbers (岳麓区, born from 1990 on) and distinct names."""
    people = []
    for i in range(n):
        birth = date(1990, 1, 1) + timedelta(days=(i * 7) % 7000)
        number = make_id_number(region, birth, i % 499, "1" if i % 2 else "2")
        people.append(RosterEntry(f"43{i + 1:010d}", number, f"测试{i:05d}"))
    return people


def rows_for(people: Sequence[RosterEntry], wages: Sequence[Any]) -> list[list[Any]]:
    """Declaration rows (without header) in the template's column order."""
    return [
        [i + 1, p.person_id, p.id_number, p.name, w, "", ""] for i, (p, w) in enumerate(zip(people, wages, strict=True))
    ]


def xlsx(rows: Sequence[Sequence[Any]], *, headers: Sequence[str] = HEADERS, sheet: str = DECLARATION_SHEET) -> bytes:
    """An xlsx with a header row and ``rows``; strings starting with '=' become formulas (openpyxl)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    ws.append(list(headers))
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def filled_template(people: Sequence[RosterEntry], wages: Sequence[Any]) -> bytes:
    """The downloaded template with the wage column filled, saved again as a clerk would."""
    data = declaration_template(people, year=YEAR, unit_name="测试单位", settings=SETTINGS)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[DECLARATION_SHEET]
    for r, wage in enumerate(wages, start=2):
        ws.cell(row=r, column=5, value=wage)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def xls(
    rows: Sequence[Sequence[Any]],
    *,
    headers: Sequence[str] = HEADERS,
    formulas: dict[tuple[int, int], str] | None = None,
) -> bytes:
    """An Excel 97-2003 .xls (BIFF8) written by xlwt; ``formulas`` maps 0-based (row, col) to a formula."""
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(DECLARATION_SHEET)
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for c, h in enumerate(headers):
        ws.write(0, c, h)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, date):
                ws.write(r, c, value, date_style)
            elif isinstance(value, Decimal):
                ws.write(r, c, str(value))
            elif value not in ("", None):
                ws.write(r, c, value)
    for (r, c), formula in (formulas or {}).items():
        ws.write(r, c, xlwt.Formula(formula))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2"'
)


def _ods_cell(value: Any) -> str:
    if value in ("", None):
        return "<table:table-cell/>"
    if isinstance(value, date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
            f"<text:p>{value.isoformat()}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    text = escape(str(value))
    return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'


def ods(
    rows: Sequence[Sequence[Any]],
    *,
    headers: Sequence[str] = HEADERS,
    formulas: dict[tuple[int, int], str] | None = None,
    extra: dict[str, bytes] | None = None,
    manifest_extra: str = "",
    trailing_empty_rows: int = 0,
) -> bytes:
    """An OpenDocument spreadsheet written by hand; ``formulas`` maps 0-based (row, col) to of: text."""
    formulas = formulas or {}
    body = []
    for r, row in enumerate([list(headers), *[list(x) for x in rows]]):
        cells = []
        for c, value in enumerate(row):
            if (r, c) in formulas:
                cells.append(
                    f'<table:table-cell table:formula={quoteattr(formulas[(r, c)])} office:value-type="float" '
                    f'office:value="0"><text:p>0</text:p></table:table-cell>'
                )
            else:
                cells.append(_ods_cell(value))
        body.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
    if trailing_empty_rows:
        # What LibreOffice writes below the data: one element standing for many empty rows.
        body.append(
            f'<table:table-row table:number-rows-repeated="{trailing_empty_rows}">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{DECLARATION_SHEET}">'
        + "".join(body)
        + "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{manifest_extra}'
        "</manifest:file-entry></manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in (extra or {}).items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def rezip(data: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """Copy an xlsx/ods zip, replacing or adding parts (for hand-made malicious variants)."""
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def params(*, wage_2024: str = "8000.00") -> RegionParams:
    """Region 430104: 2024 全口径 average wage, bounds 60 %–300 % of it from 2019, 16/8 and 8/4 rates."""
    return RegionParams(
        region="430104",
        rate_rows=(
            RateRow("120", "UNIT", 201905, None, Decimal("0.16")),
            RateRow("120", "PERSON", 201410, None, Decimal("0.08"), Decimal("0.08")),
            RateRow("116", "UNIT", 201410, None, Decimal("0.08"), Decimal("0.08")),
            RateRow("116", "PERSON", 201410, None, Decimal("0.04"), Decimal("0.04")),
        ),
        wage_rows=(WageRow(2023, "ALL", Decimal("7500.00")), WageRow(2024, "ALL", Decimal(wage_2024))),
        bound_rows=(BoundRow(201901, None, Decimal("0.6"), Decimal("3"), "ALL"),),
        param_rows=(ParamRow(ANNUITY_AAE140, date(2014, 10, 1), "116"),),
    )


def as_datetime(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)  # noqa: DTZ001 - a spreadsheet date has no zone
