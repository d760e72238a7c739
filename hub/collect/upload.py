"""The person lists of a collection from a spreadsheet: the downloadable template and the reading of it.

One workbook, one sheet per list (在职人员, 离退休人员) and a 填写说明 sheet with the columns explained and
an example of each list. Reading goes through the wage files' reader (``hub.wagefile.sheet.read_upload``:
the content decides the type — xlsx, xls or ods —; size, rows, columns, macros, passwords, zip bombs and
unsafe XML are refused before calamine reads a cell; formulas are never evaluated). Each row is then
checked cell by cell (dates, amounts, ID numbers as text) and with the payload's row validators, so an
error names the sheet, the row and the column. The result is the same lists as pasted lines give
(``rows.payload_of``): the form checks and previews them the same way. Nothing is kept here; a file with
any error gives every error and no list.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, Protection
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel, ValidationError

from hub.collect import model
from hub.wagefile.config import WagefileSettings
from hub.wagefile.container import inspect
from hub.wagefile.errors import NoData, WagefileError
from hub.wagefile.matching import RowCheckerBase
from hub.wagefile.model import CellError, Column, column_letter
from hub.wagefile.normalize import (
    CellValue,
    CellValueError,
    fold,
    normalize_id_number,
    normalize_name,
    normalize_text,
    parse_amount,
    parse_date,
)
from hub.wagefile.sheet import read_upload
from hub.wagefile.xlsx import header_row, text_cell

STAFF_SHEET = "在职人员"
RETIREE_SHEET = "离退休人员"
HELP_SHEET = "填写说明"
TEMPLATE_FILENAME = "数据采集人员名单模板.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCEPT = ".xlsx,.xls,.ods"
_BLANK_ROWS = 500  # rows prepared with text and date formats in the template (more may be added)

_ID = Column(
    "id_number", "公民身份号码", True, 22, "18位，末位X请大写；请按文本填写，不要存成数字", ("身份证号码", "身份证号")
)
_NAME = Column("name", "姓名", True, 12, "与身份证一致")
_WORK_START = Column("work_start", "参加工作时间", True, 14, "格式如 2008-07-01")
_ETHNICITY = Column("ethnicity", "民族代码", False, 10, "两位数字代码，如 01（汉族）；不填按 01", ("民族",))

STAFF_COLUMNS: tuple[Column, ...] = (
    _ID,
    _NAME,
    _WORK_START,
    Column("phone", "手机号码", True, 14, "11位手机号码"),
    Column("start_date", "参保日期", True, 14, "在本单位参保（起缴）的日期，格式如 2025-01-01"),
    Column("monthly_wage", "月缴费工资（元）", True, 18, "大于0，最多两位小数，如 8500.00", ("月缴费工资",)),
    _ETHNICITY,
    Column("position_level", "职务职级", False, 14, "选填，最多10个字"),
)
RETIREE_COLUMNS: tuple[Column, ...] = (
    _ID,
    _NAME,
    _WORK_START,
    Column("retire_date", "离退休日期", True, 14, "格式如 2020-03-31"),
    Column("phone", "手机号码", False, 14, "选填，11位手机号码"),
    _ETHNICITY,
)
_EXAMPLES = {
    STAFF_SHEET: "110101199001012475, 张三, 2012-07-01, 13900000000, 2025-01-01, 8500.00, 01, 一级科员",
    RETIREE_SHEET: "110101195501012502, 李四, 1975-07-01, 2015-01-31, 13900000001, 01",
}

# pydantic's own error types on a row (the validators' own messages are Chinese already).
_TYPE_MESSAGES = {
    "missing": "必须填写",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "greater_than": "必须大于0",
    "less_than_equal": "超出允许的范围",
    "decimal_max_digits": "金额过大",
    "decimal_max_places": "最多保留两位小数",
}


class UploadRefused(ValueError):
    """The file gives no lists; ``messages`` name every problem (sheet, row and column where there is one)."""

    def __init__(self, messages: list[str], *, status: int = 422) -> None:
        super().__init__("；".join(messages))
        self.messages = messages
        self.status = status


@dataclass(frozen=True)
class Lists:
    """The two lists as the pasted lines give them (field name → text), in the order of the sheets."""

    staff: list[dict[str, Any]]
    retirees: list[dict[str, Any]]


def limits(settings: WagefileSettings) -> WagefileSettings:
    """The wage files' limits, with no more rows per sheet than a collection takes."""
    return settings.model_copy(update={"max_rows": min(settings.max_rows, model.MAX_ROWS)})


# Reading -------------------------------------------------------------------------------------------


def _phone(value: CellValue) -> str:
    if isinstance(value, bool):
        raise CellValueError("手机号码应为11位数字", "phone_format")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return fold(normalize_text(value)).replace("-", "")


def _ethnicity(value: CellValue) -> str:
    if isinstance(value, bool):
        raise CellValueError("民族代码应为两位数字，如 01", "ethnicity_format")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):02d}"  # "01" typed into a number cell arrives as 1
    text = fold(normalize_text(value))
    return text.zfill(2) if text.isdigit() and len(text) == 1 else text


_PARSERS: dict[str, Callable[[CellValue], str]] = {
    "id_number": normalize_id_number,
    "name": normalize_name,
    "work_start": lambda v: parse_date(v).isoformat(),
    "start_date": lambda v: parse_date(v).isoformat(),
    "retire_date": lambda v: parse_date(v).isoformat(),
    "phone": _phone,
    "monthly_wage": lambda v: str(parse_amount(v)),
    "ethnicity": _ethnicity,
    "position_level": normalize_text,
}


class _ListChecker(RowCheckerBase):
    """One list's rows: each cell parsed, then the payload's row model; the accepted row as form values."""

    def __init__(
        self, spec: Sequence[Column], row_model: type[BaseModel], columns: dict[str, int], offset: int
    ) -> None:
        super().__init__(columns, offset, spec)
        self.spec = spec
        self.row_model = row_model

    def check(self, row: int, values: list[CellValue], errors: list[CellError]) -> tuple[int, dict[str, Any]] | None:
        get = self.getter(values)
        before = len(errors)
        out: dict[str, Any] = {}
        for col in self.spec:
            if col.key not in self.columns:
                continue  # an optional column left out of the sheet
            missing = (f"{col.key}_missing", f"{col.label}不能为空") if col.required else None
            value = self.parsed(errors, row, col.key, get(col.key), _PARSERS[col.key], missing)
            if value:
                out[col.key] = value
        if len(errors) > before:
            return None
        try:
            checked = self.row_model.model_validate(out)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                self._model_error(errors, row, err)
            return None
        if not self.first_row(errors, row, str(checked.model_dump()["id_number"])):
            return None
        return row, out

    def finish(self, errors: list[CellError]) -> None:
        return None

    def _model_error(self, errors: list[CellError], row: int, err: Any) -> None:
        if err["type"] == "value_error":
            message = str(err["ctx"].get("error", "")) if "ctx" in err else str(err["msg"])
        else:
            message = _TYPE_MESSAGES.get(err["type"], "填写不正确")
        loc = tuple(err["loc"])
        key = str(loc[0]) if loc else None
        if key is None:
            # A rule across fields (参保日期不能早于参加工作时间…): the column its message starts with.
            key = next((c.key for c in self.spec if message.startswith(model.FIELD_LABELS.get(c.key, "\0"))), None)
        if key is not None and key in self.columns:
            self.error(errors, row, key, err["type"], message)
        else:
            errors.append(CellError(row, None, None, err["type"], message))


def _refusal(sheet: str, exc: WagefileError) -> UploadRefused:
    return UploadRefused([f"工作表“{sheet}”：{exc.detail}"], status=exc.status)


def _read_sheet(
    data: bytes, settings: WagefileSettings, sheet: str, spec: Sequence[Column], row_model: type[BaseModel]
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(sheet row, form values) of the accepted rows and the messages of the refused ones."""

    def make(columns: dict[str, int], offset: int) -> _ListChecker:
        return _ListChecker(spec, row_model, columns, offset)

    try:
        upload = read_upload(data, settings, columns=spec, preferred_sheet=sheet, make_checker=make)
    except NoData:
        return [], []  # the header alone: nobody on this list
    except WagefileError as exc:
        raise _refusal(sheet, exc) from None
    return upload.rows, [f"工作表“{sheet}”{e.describe()}" for e in upload.errors]


def read_lists(data: bytes, settings: WagefileSettings) -> Lists:
    """Both lists of an uploaded workbook; ``UploadRefused`` with every problem, and no list, otherwise.

    A sheet may be left out or hold its header only (nobody on that list); a person on both lists is
    refused at the row of the second one.
    """
    settings = limits(settings)
    try:
        names = set(inspect(data, settings).sheets)
    except WagefileError as exc:
        raise UploadRefused([exc.detail], status=exc.status) from None
    if STAFF_SHEET not in names and RETIREE_SHEET not in names:
        raise UploadRefused([f"文件中没有名为“{STAFF_SHEET}”或“{RETIREE_SHEET}”的工作表，请使用下载的模板填写"])
    staff: list[tuple[int, dict[str, Any]]] = []
    retirees: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    if STAFF_SHEET in names:
        staff, found = _read_sheet(data, settings, STAFF_SHEET, STAFF_COLUMNS, model.StaffRow)
        problems += found
    if RETIREE_SHEET in names:
        retirees, found = _read_sheet(data, settings, RETIREE_SHEET, RETIREE_COLUMNS, model.RetireeRow)
        problems += found
    on_staff = {str(r["id_number"]).upper(): n for n, r in staff}
    letter = column_letter(0)
    for n, r in retirees:
        first = on_staff.get(str(r["id_number"]).upper())
        if first is not None:
            problems.append(
                f"工作表“{RETIREE_SHEET}”第{n}行{letter}列（公民身份号码）："
                f"与工作表“{STAFF_SHEET}”第{first}行是同一人，每人只能填写在一个名单中"
            )
    if problems:
        raise UploadRefused(problems)
    if not staff and not retirees:
        raise UploadRefused(["文件中没有人员，请在“在职人员”或“离退休人员”工作表的表头下方逐行填写"])
    return Lists([r for _, r in staff], [r for _, r in retirees])


# The template --------------------------------------------------------------------------------------

_TEXT_COLUMNS = {"id_number", "phone", "ethnicity", "position_level", "name"}
_DATE_COLUMNS = {"work_start", "start_date", "retire_date"}


def _list_sheet(ws: Worksheet, columns: Sequence[Column]) -> None:
    header_row(ws, columns)
    for i, col in enumerate(columns, start=1):
        for r in range(2, _BLANK_ROWS + 2):
            body = ws.cell(row=r, column=i)
            body.protection = Protection(locked=False)
            if col.key in _TEXT_COLUMNS:
                body.number_format = "@"  # an 18-digit number would lose its last digits as a number
            elif col.key in _DATE_COLUMNS:
                body.number_format = "yyyy-mm-dd"
            elif col.key == "monthly_wage":
                body.number_format = "0.00"


def template() -> bytes:
    """The blank workbook the clerk downloads (xlsx): one sheet per list and a sheet of instructions."""
    wb = Workbook()
    staff = wb.active
    assert staff is not None
    staff.title = STAFF_SHEET
    wb.properties.title = "单位参保登记（数据采集）人员名单"
    wb.properties.creator = "社会保险经办机构"
    _list_sheet(staff, STAFF_COLUMNS)
    _list_sheet(wb.create_sheet(RETIREE_SHEET), RETIREE_COLUMNS)
    notes = wb.create_sheet(HELP_SHEET)
    lines = [
        "单位参保登记（数据采集）人员名单 填写说明",
        "",
        f"1. 在职人员填写在“{STAFF_SHEET}”工作表，离退休人员填写在“{RETIREE_SHEET}”工作表，每行一人，从第2行起填写；"
        "不要修改表头，没有人员的工作表保留表头即可。",
        "2. 带*的列必填；公民身份号码、手机号码请按文本填写（不要存成数字）；日期格式如 2025-01-01；不要填写公式。",
        f"3. 每个工作表最多{model.MAX_ROWS}人；每人只能出现一次。",
        "4. 请保存为 .xlsx（也可为 .xls 或 .ods），不要设置打开密码，不要包含宏。",
        "5. 上传后系统逐行检查，全部无误才显示预览；有误时按工作表、行和列列出每一处错误，请修改后重新上传。",
        "",
    ]
    for sheet, columns in ((STAFF_SHEET, STAFF_COLUMNS), (RETIREE_SHEET, RETIREE_COLUMNS)):
        lines.append(f"“{sheet}”各列：")
        lines += [f"  {c.label}{'（必填）' if c.required else '（选填）'}：{c.help}" for c in columns]
        lines.append(f"  示例（仅供参考，请勿抄入）：{_EXAMPLES[sheet]}")
        lines.append("")
    for r, line in enumerate(lines, start=1):
        cell = text_cell(notes, r, 1, line)
        if r == 1:
            cell.font = Font(bold=True, size=14)
    notes.column_dimensions["A"].width = 110
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
