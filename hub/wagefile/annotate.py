"""The uploaded rows handed back with their errors marked, as an xlsx the clerk can fix and re-upload.

The first sheet keeps the uploaded sheet's name, header and every row at the same row and column
as uploaded, so the row numbers of the messages point at the same place. Each wrong cell is filled
red and carries a comment with its message; a 错误说明 column after the last column lists the
errors of the row. The parser ignores that extra column, so the corrected file can be uploaded as
it is. A second sheet, 错误清单, lists every error, including those of the file as a whole (a
person of the roster without a row). Uploaded text is always written back as text, never as a
formula, whatever it starts with.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from hub.wagefile.model import CellError, column_letter
from hub.wagefile.normalize import CellValue
from hub.wagefile.sheet import Upload

ERROR_COLUMN = "错误说明"
ERROR_LIST_SHEET = "错误清单"
_ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
_ERROR_FONT = Font(color="9C0006")
_HEADER_FONT = Font(bold=True)


def _cell(ws: WriteOnlyWorksheet, value: CellValue) -> Cell:
    if isinstance(value, str):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"  # text stays text: "=HYPERLINK(...)" must not become a formula
        return cell
    if isinstance(value, datetime | date):
        stamp = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)  # noqa: DTZ001
        cell = WriteOnlyCell(ws, value=stamp)
        cell.number_format = "yyyy-mm-dd"
        return cell
    if isinstance(value, bool | int | float):
        return WriteOnlyCell(ws, value=value)
    text = "" if value is None else str(value)
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    return cell


def _text(ws: WriteOnlyWorksheet, value: str, *, font: Font | None = None) -> Cell:
    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def annotated_workbook(declaration: Upload[Any]) -> bytes:
    """The annotated workbook of an upload (normally one with errors), as xlsx bytes."""
    by_row: dict[int, list[CellError]] = defaultdict(list)
    for error in declaration.errors:
        if error.row is not None:
            by_row[error.row].append(error)
    width = max([len(declaration.headers), *(len(v) for _, v in declaration.source_rows)])
    offset = declaration.col_offset
    error_col = offset + width  # 0-based sheet column of 错误说明

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(declaration.sheet)
    ws.column_dimensions[column_letter(error_col)].width = 60
    lead = [None] * offset

    next_row = 1
    while next_row < declaration.header_row:
        ws.append([])
        next_row += 1
    header = [_cell(ws, v) for v in declaration.headers]
    header.extend(_text(ws, "") for _ in range(width - len(header)))
    header.append(_text(ws, ERROR_COLUMN, font=_HEADER_FONT))
    ws.append([*lead, *header])
    next_row += 1

    for row_number, values in declaration.source_rows:
        while next_row < row_number:
            ws.append([])
            next_row += 1
        errors = by_row.get(row_number, [])
        marked: dict[str, list[str]] = defaultdict(list)
        for error in errors:
            if error.letter is not None:
                marked[error.letter].append(error.message)
        cells = []
        for i in range(width):
            cell = _cell(ws, values[i] if i < len(values) else "")
            messages = marked.get(column_letter(offset + i))
            if messages:
                cell.fill = _ERROR_FILL
                cell.font = _ERROR_FONT
                cell.comment = Comment("；".join(messages), "校验")
            cells.append(cell)
        summary = "；".join((f"{e.letter}列：" if e.letter else "") + e.message for e in errors)
        cells.append(_text(ws, summary, font=_ERROR_FONT if summary else None))
        ws.append([*lead, *cells])
        next_row += 1

    errors_ws = wb.create_sheet(ERROR_LIST_SHEET)
    errors_ws.column_dimensions["E"].width = 70
    errors_ws.append([_text(errors_ws, t, font=_HEADER_FONT) for t in ("行号", "列", "列名", "错误代码", "错误说明")])
    for error in declaration.errors:
        errors_ws.append(
            [
                error.row if error.row is not None else _text(errors_ws, "全表"),
                _text(errors_ws, error.letter or ""),
                _text(errors_ws, error.column or ""),
                _text(errors_ws, error.code),
                _text(errors_ws, error.message),
            ]
        )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
