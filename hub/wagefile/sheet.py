"""Reading one sheet of an uploaded spreadsheet, the same way for every kind of batch file.

``read_upload`` lets ``container.inspect`` refuse what is not a safe spreadsheet, checks the data
extent of every sheet before calamine materialises anything, finds the header row, then hands the
non-empty data rows one by one (python-calamine's ``iter_rows``, formulas never evaluated) to a
row checker of the file's kind. Formula cells become errors of their own and are read as empty by
the checker. ``Upload.require_clean`` gives the accepted rows only when the whole file is clean.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import python_calamine

from hub.wagefile.config import WagefileSettings
from hub.wagefile.container import ContainerScan, Kind, inspect
from hub.wagefile.errors import (
    DeclarationRejected,
    EncryptedWorkbook,
    MalformedWorkbook,
    MissingColumns,
    NoData,
    TooManyColumns,
    TooManyRows,
)
from hub.wagefile.model import CellError, Column, column_letter, header_key
from hub.wagefile.normalize import CellValue, is_blank

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

FORMULA_MESSAGE = "单元格含有公式，系统不计算公式，请改为直接填写数值或文字"


@dataclass(slots=True)
class Upload(Generic[T]):
    """An uploaded file after reading: the accepted rows and every error found.

    ``source_rows`` keeps the uploaded rows as read (sheet row number, cell values) for the
    annotated error workbook; ``col_offset`` is the 0-based sheet column of the first value and
    ``columns`` maps a column key to its index in a row's values.
    """

    kind: Kind
    sheet: str
    header_row: int
    headers: list[CellValue]
    col_offset: int
    columns: dict[str, int]
    rows: list[T] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    source_rows: list[tuple[int, list[CellValue]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def require_clean(self) -> list[T]:
        """The accepted rows, or ``DeclarationRejected`` (422) carrying every error."""
        if self.errors:
            raise DeclarationRejected(
                f"文件中有 {len(self.errors)} 处错误，请按提示修改后重新上传，本次未保存任何数据",
                errors=[
                    {"row": e.row, "column": e.column, "letter": e.letter, "code": e.code, "message": e.message}
                    for e in self.errors
                ],
            )
        return self.rows


class RowChecker(Protocol[T_co]):
    """Checks the rows of one kind of file; made once the header (hence the columns) is known."""

    def check(self, row: int, values: list[CellValue], errors: list[CellError]) -> T_co | None:
        """The accepted value of a row, or None (errors appended, or nothing to take from it)."""
        ...

    def finish(self, errors: list[CellError]) -> None:
        """Errors of the file as a whole, once every row has been seen."""
        ...


def read_upload(
    data: bytes,
    settings: WagefileSettings,
    *,
    columns: Sequence[Column],
    preferred_sheet: str,
    make_checker: Callable[[dict[str, int], int], RowChecker[T]],
) -> Upload[T]:
    """Read the sheet ``preferred_sheet`` (or the first visible one) of ``data`` with ``columns``.

    Raises a ``WagefileError`` subclass when the file as a whole cannot be taken (size, type,
    password, macros, zip bomb, unsafe XML, rows or columns over the limit, no header, no data).
    """
    scan = inspect(data, settings)
    check_extent(scan, settings)
    sheet_name, offset, rows = calamine_rows(data, preferred_sheet)
    formulas: dict[int, list[int]] = {}
    for r, c in scan.formulas_of(sheet_name):
        formulas.setdefault(r, []).append(c)
    header_row, headers, found = find_header(rows, columns, settings)
    upload: Upload[T] = Upload(scan.kind, sheet_name, header_row, headers, offset, found)
    labels = {c.key: c.label for c in columns}
    keys_by_index = {i: k for k, i in found.items()}
    checker = make_checker(found, offset)
    errors = upload.errors
    count = 0
    for index, values in enumerate(rows, start=header_row + 1):
        cells_with_formula = formulas.get(index)
        if not cells_with_formula and all(is_blank(v) for v in values):
            continue
        count += 1
        if count > settings.max_rows:
            raise TooManyRows(f"数据超过上限 {settings.max_rows} 行，请拆分后分批上传")
        upload.source_rows.append((index, values))
        if cells_with_formula:
            # The cached value of a formula is whatever the last program computed: never used.
            # The rest of the row is still checked, with the formula cells read as empty.
            letters = {column_letter(c - 1) for c in cells_with_formula}
            cleared = list(values)
            for c in sorted(cells_with_formula):
                if 0 <= c - 1 - offset < len(cleared):
                    cleared[c - 1 - offset] = ""
                key = keys_by_index.get(c - 1 - offset)
                errors.append(
                    CellError(index, labels[key] if key else None, column_letter(c - 1), "formula", FORMULA_MESSAGE)
                )
            row_errors: list[CellError] = []
            checker.check(index, cleared, row_errors)
            errors.extend(e for e in row_errors if e.letter not in letters)
            continue
        accepted = checker.check(index, values, errors)
        if accepted is not None:
            upload.rows.append(accepted)
    if count == 0:
        raise NoData("表中没有数据行，请在表头下方逐行填写")
    checker.finish(errors)
    return upload


def _is_panic(exc: BaseException) -> bool:
    """A Rust panic inside calamine reaches Python as pyo3's PanicException (a BaseException)."""
    return type(exc).__name__ == "PanicException"


def calamine_rows(data: bytes, preferred_sheet: str) -> tuple[str, int, Iterator[list[CellValue]]]:
    """Sheet name, first column and the rows (one by one) of the sheet to read, by calamine.

    calamine materialises the sheet's cells when it is opened (its extent was checked before);
    ``iter_rows`` then converts one row at a time. A panic of the Rust reader on a damaged file,
    while opening or while iterating, becomes ``MalformedWorkbook``.
    """
    try:
        name, sheet = _open_sheet(data, preferred_sheet)
        start = sheet.start
        return name, (start[1] if start is not None else 0), _guarded(sheet.iter_rows())
    except BaseException as exc:
        if _is_panic(exc):
            raise MalformedWorkbook() from None
        raise


def _guarded(rows: Iterator[list[CellValue]]) -> Iterator[list[CellValue]]:
    try:
        yield from rows
    except BaseException as exc:
        if _is_panic(exc):
            raise MalformedWorkbook() from None
        raise


def _open_sheet(data: bytes, preferred: str) -> tuple[str, Any]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError:
        raise EncryptedWorkbook() from None
    except (python_calamine.CalamineError, ValueError, OSError):
        raise MalformedWorkbook() from None
    if preferred in workbook.sheet_names:
        name = preferred
    else:
        visible = [
            m.name
            for m in workbook.sheets_metadata
            if m.typ == python_calamine.SheetTypeEnum.WorkSheet
            and m.visible == python_calamine.SheetVisibleEnum.Visible
        ]
        if not visible:
            raise NoData("文件中没有可见的工作表")
        name = visible[0]
    try:
        return name, workbook.get_sheet_by_name(name)
    except (python_calamine.CalamineError, ValueError, OSError):
        raise MalformedWorkbook() from None


def check_extent(scan: ContainerScan, settings: WagefileSettings) -> None:
    """Refuse a sheet whose cells reach beyond the row or column limit, before calamine reads it."""
    for sheet in scan.all_sheets():
        if sheet.max_row > settings.max_rows + settings.header_search_rows:
            raise TooManyRows(
                f"工作表“{sheet.name}”有 {sheet.max_row} 行数据，超过上限 {settings.max_rows} 行，请拆分后分批上传"
            )
        if sheet.max_col > settings.max_columns:
            raise TooManyColumns(
                f"工作表“{sheet.name}”有 {sheet.max_col} 列数据，超过上限 {settings.max_columns} 列，"
                "请使用系统下载的模板"
            )


def _match_header(values: Sequence[CellValue], columns: Sequence[Column]) -> dict[str, int]:
    wanted: dict[str, str] = {}
    for col in columns:
        for text in (col.label, *col.aliases):
            wanted.setdefault(header_key(text), col.key)
    found: dict[str, int] = {}
    for i, value in enumerate(values):
        if isinstance(value, str):
            key = wanted.get(header_key(value))
            if key is not None and key not in found:
                found[key] = i
    return found


def find_header(
    rows: Iterator[list[CellValue]], columns: Sequence[Column], settings: WagefileSettings
) -> tuple[int, list[CellValue], dict[str, int]]:
    """(row number, header values, column key → index) of the first row naming every required column."""
    required = [c for c in columns if c.required]
    best: tuple[int, list[CellValue], dict[str, int]] | None = None
    for index, values in enumerate(rows):
        found = _match_header(values, columns)
        if all(c.key in found for c in required):
            return index + 1, values, found
        if found and (best is None or len(found) > len(best[2])):
            best = (index + 1, values, found)
        if index + 1 >= settings.header_search_rows:
            break
    names = "".join(f"“{c.label}”" for c in required)
    if best is None:
        raise MissingColumns(f"未找到表头行（应包含{names}），请使用系统下载的模板")
    missing = "、".join(f"“{c.label}”" for c in required if c.key not in best[2])
    raise MissingColumns(f"第{best[0]}行表头缺少必填列：{missing}，请使用系统下载的模板")
