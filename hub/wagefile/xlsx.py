"""Cells and header rows of the downloadable workbooks (openpyxl), shared by every template."""

from __future__ import annotations

from collections.abc import Sequence

from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from hub.wagefile.model import Column, column_letter

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
COMMENT_AUTHOR = "社保经办机构"


def text_cell(ws: Worksheet, row: int, col: int, value: str) -> Cell:
    """A text cell: openpyxl would turn a string starting with '=' into a formula otherwise."""
    cell = ws.cell(row=row, column=col)
    assert isinstance(cell, Cell)  # a template has no merged cells
    cell.value = value
    cell.data_type = "s"
    cell.number_format = "@"
    return cell


def header_row(ws: Worksheet, columns: Sequence[Column], *, border: Border | None = None) -> None:
    """Row 1: each column's label (``*`` when required) with its help as a comment; the row stays in view."""
    for i, col in enumerate(columns, start=1):
        cell = text_cell(ws, 1, i, col.label + ("*" if col.required else ""))
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        if border is not None:
            cell.border = border
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.comment = Comment(col.help, COMMENT_AUTHOR)
        ws.column_dimensions[column_letter(i - 1)].width = col.width
    ws.row_dimensions[1].height = 30
    ws.freeze_panes = "A2"
