"""Spreadsheet templates the clerk downloads (openpyxl).

* 年度缴费工资申报: pre-filled with the unit's current staff (个人编号, 公民身份号码, 姓名 locked),
  the clerk fills each person's monthly average wage of last year and, for someone who started
  during the year, the 起薪日期.
* 人员基本信息登记 (batch registration) and 人员停保（减员）(batch stop, pre-filled).

Every template has a protected header row (the sheet is protected without a password: protection
guides the clerk, the server checks everything again), input cells unlocked, data validation with
Chinese prompts and error texts, text-formatted identifier columns (an 18-digit number would lose
its last digits as a number) and a 填写说明 sheet. Identifiers and names are always written as text
cells, never as formulas, whatever they start with.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Border, Font, PatternFill, Protection, Side
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from hub.rules.contributions import base_bounds
from hub.rules.params import ParameterMissing, RegionParams
from hub.rules.period import Period
from hub.wagefile.config import WagefileSettings
from hub.wagefile.model import Column, RosterEntry, column_letter
from hub.wagefile.xlsx import header_row, text_cell

DECLARATION_SHEET = "缴费工资申报"
REGISTRATION_SHEET = "人员基本信息登记"
STOP_SHEET = "人员停保"
HELP_SHEET = "填写说明"

DECLARATION_COLUMNS: tuple[Column, ...] = (
    Column("seq", "序号", False, 6, "序号，可不填"),
    Column("person_id", "个人编号", False, 14, "系统预填，请勿修改", ("人员编号", "社保编号")),
    Column(
        "id_number",
        "公民身份号码",
        True,
        22,
        "系统预填，18位，请勿修改",
        ("身份证号码", "身份证号", "社会保障号码", "证件号码"),
    ),
    Column("name", "姓名", True, 12, "系统预填，须与名册一致"),
    Column(
        "wage",
        "申报月平均工资（元）",
        True,
        20,
        "本人上年度月平均工资，大于0，最多两位小数，如 6500.00",
        ("申报工资", "月平均工资", "缴费工资", "申报缴费工资"),
    ),
    Column("start_date", "起薪日期", False, 14, "仅上年度新入职人员填写，格式如 2024-03-01"),
    Column("remark", "备注", False, 24, "可不填"),
)

STOP_REASONS = ("调出", "辞职", "辞退", "死亡", "退休", "其他")
PERSON_KINDS = ("公务员", "参照公务员法管理人员", "事业单位工作人员", "机关工勤人员", "其他")

REGISTRATION_COLUMNS: tuple[Column, ...] = (
    Column("id_number", "公民身份号码", True, 22, "18位，末位X请大写", ("身份证号码", "身份证号")),
    Column("name", "姓名", True, 12, "与身份证一致"),
    Column("sex", "性别", True, 8, "男 或 女"),
    Column("nation", "民族", False, 10, "如 汉族"),
    Column("birth_date", "出生日期", True, 14, "格式如 1990-01-01，须与身份证一致"),
    Column("work_date", "参加工作日期", True, 14, "格式如 2012-07-01"),
    Column("phone", "手机号码", False, 14, "11位手机号码"),
    Column("kind", "人员身份", True, 20, "从下拉列表选择"),
    Column("start_date", "起薪日期", True, 14, "本单位起薪日期，格式如 2025-01-01"),
    Column("wage", "起薪当月工资（元）", True, 18, "大于0，最多两位小数"),
)

STOP_COLUMNS: tuple[Column, ...] = (
    Column("person_id", "个人编号", False, 14, "系统预填，请勿修改"),
    Column("id_number", "公民身份号码", True, 22, "系统预填，请勿修改"),
    Column("name", "姓名", True, 12, "系统预填"),
    Column("stop_date", "停保日期", True, 14, "停止缴费的日期，格式如 2025-06-30；不停保的人员请删除该行"),
    Column("reason", "停保原因", True, 12, "从下拉列表选择"),
    Column("remark", "备注", False, 24, "可不填"),
)

_PREFILLED_FILL = PatternFill("solid", fgColor="F2F2F2")
_THIN = Side(style="thin", color="A6A6A6")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_UNLOCKED = Protection(locked=False)
_BLANK_INPUT_ROWS = 500


def _protect(ws: Worksheet) -> None:
    # No password: the protection keeps the header and the pre-filled identity columns from being
    # overwritten by accident; the upload is checked in full regardless.
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.protection.autoFilter = False
    ws.protection.sort = False


def _col_index(columns: Sequence[Column], key: str) -> int:
    return next(i for i, c in enumerate(columns, start=1) if c.key == key)


def _range(columns: Sequence[Column], key: str, first: int, last: int) -> str:
    letter = column_letter(_col_index(columns, key) - 1)
    return f"{letter}{first}:{letter}{last}"


def _wage_validation(settings: WagefileSettings) -> DataValidation:
    dv = DataValidation(
        type="decimal",
        operator="between",
        formula1="0.01",
        formula2=str(settings.max_monthly_wage),
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
    )
    dv.errorTitle = "金额不正确"
    dv.error = f"请填写大于0、不超过{settings.max_monthly_wage}的金额，最多两位小数"
    dv.promptTitle = "申报工资"
    dv.prompt = "填写金额数字，单位为元，最多两位小数"
    return dv


def _date_validation(title: str) -> DataValidation:
    dv = DataValidation(
        type="date",
        operator="between",
        formula1="DATE(1950,1,1)",
        formula2="DATE(2199,12,31)",
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
    )
    dv.errorTitle = "日期不正确"
    dv.error = "请填写日期，如 2024-03-01"
    dv.promptTitle = title
    dv.prompt = "格式如 2024-03-01"
    return dv


def _list_validation(title: str, values: Sequence[str]) -> DataValidation:
    dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True, showErrorMessage=True)
    dv.errorTitle = f"{title}不正确"
    dv.error = "请从下拉列表中选择"
    return dv


def _help_sheet(wb: Workbook, title: str, lines: Sequence[str], columns: Sequence[Column]) -> None:
    ws = wb.create_sheet(HELP_SHEET)
    text_cell(ws, 1, 1, title).font = Font(bold=True, size=14)
    row = 3
    for line in lines:
        text_cell(ws, row, 1, line)
        row += 1
    row += 1
    text_cell(ws, row, 1, "各列说明").font = Font(bold=True)
    row += 1
    for col in columns:
        text_cell(ws, row, 1, f"{col.label}{'（必填）' if col.required else ''}：{col.help}")
        row += 1
    ws.column_dimensions["A"].width = 100
    _protect(ws)


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _prefill(ws: Worksheet, columns: Sequence[Column], roster: Sequence[RosterEntry], inputs: Sequence[str]) -> None:
    seq_col = next((i for i, c in enumerate(columns, start=1) if c.key == "seq"), None)
    fields = {"person_id": "person_id", "id_number": "id_number", "name": "name"}
    input_cols = [_col_index(columns, key) for key in inputs]
    for r, person in enumerate(roster, start=2):
        if seq_col is not None:
            ws.cell(row=r, column=seq_col, value=r - 1)
        for key, attr in fields.items():
            cell = text_cell(ws, r, _col_index(columns, key), getattr(person, attr))
            cell.fill = _PREFILLED_FILL
        for c in input_cols:
            ws.cell(row=r, column=c).protection = _UNLOCKED


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


def _bounds_text(params: RegionParams | None, period: Period | None) -> str:
    """The base bounds in force for ``period`` in words, or a general sentence when unknown.

    During the declaration window the new average wage is often not yet published; the bounds
    are then described without numbers rather than with a guess.
    """
    general = "系统按统筹区公布的缴费基数上下限核定缴费基数：低于下限按下限、高于上限按上限，预览中会标出。"
    if params is None or period is None:
        return general
    try:
        lower_ratio, upper_ratio, _ = params.bounds(period)
        wage = params.bound_wage(period)
    except ParameterMissing:
        return general
    lower, upper = base_bounds(wage, lower_ratio, upper_ratio)
    return (
        f"自{period.year}年{period.month}月起缴费基数下限为 {lower:,} 元、上限为 {upper:,} 元"
        f"（{period.year - 1}年度社会平均工资 {wage:,} 元的 {_percent(lower_ratio)}～{_percent(upper_ratio)}）："
        "低于下限按下限、高于上限按上限核定，预览中会标出。"
    )


def declaration_template(
    roster: Sequence[RosterEntry],
    *,
    year: int,
    unit_name: str,
    settings: WagefileSettings,
    params: RegionParams | None = None,
    period: Period | None = None,
) -> bytes:
    """The 年度缴费工资申报 workbook for ``year`` (the year whose wages are declared), as xlsx bytes.

    With the region's ``params`` and the ``period`` the new bases apply from, the instructions
    state the base bounds in yuan; without them (or before the average wage is published) they
    describe the bounds in general terms.
    """
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = DECLARATION_SHEET
    wb.properties.title = f"{year}年度缴费工资申报"
    wb.properties.subject = unit_name
    wb.properties.creator = "社会保险经办机构"
    columns = DECLARATION_COLUMNS
    header_row(ws, columns, border=_BORDER)
    _prefill(ws, columns, roster, ("wage", "start_date", "remark"))
    last = max(len(roster) + 1, 2)
    wage_fmt = _col_index(columns, "wage")
    date_fmt = _col_index(columns, "start_date")
    for r in range(2, last + 1):
        ws.cell(row=r, column=wage_fmt).number_format = "#,##0.00"
        ws.cell(row=r, column=date_fmt).number_format = "yyyy-mm-dd"
    wage_dv = _wage_validation(settings)
    wage_dv.add(_range(columns, "wage", 2, last))
    date_dv = _date_validation("起薪日期")
    date_dv.add(_range(columns, "start_date", 2, last))
    ws.add_data_validation(wage_dv)
    ws.add_data_validation(date_dv)
    _protect(ws)
    _help_sheet(
        wb,
        f"{unit_name} {year}年度缴费工资申报 填写说明",
        (
            f"1. 表中已列出本单位全部在职参保人员（共{len(roster)}人），每人一行，"
            "请勿增删行或修改个人编号、公民身份号码、姓名。",
            f"2. “申报月平均工资”填写本人{year}年度工资收入的月平均数，单位为元，最多两位小数，不要填写公式。",
            "3. " + _bounds_text(params, period),
            f"4. {year}年度新入职人员请填写起薪日期，首年度以起薪当月工资申报。",
            "5. 请保存为 .xlsx（也可为 .xls 或 .ods），不要设置打开密码，不要包含宏。",
            "6. 上传后系统逐行校验，全部无误才能预览和提交；有误时可下载标注了错误的文件，修改后重新上传。",
        ),
        columns,
    )
    return _save(wb)


def registration_template(*, unit_name: str, settings: WagefileSettings) -> bytes:
    """The batch 人员基本信息登记 workbook (blank input rows), as xlsx bytes."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = REGISTRATION_SHEET
    wb.properties.title = "人员基本信息登记（批量）"
    wb.properties.subject = unit_name
    columns = REGISTRATION_COLUMNS
    header_row(ws, columns, border=_BORDER)
    last = _BLANK_INPUT_ROWS + 1
    text_cols = {_col_index(columns, k) for k in ("id_number", "phone")}
    date_cols = {_col_index(columns, k) for k in ("birth_date", "work_date", "start_date")}
    for r in range(2, last + 1):
        for c in range(1, len(columns) + 1):
            cell = ws.cell(row=r, column=c)
            cell.protection = _UNLOCKED
            if c in text_cols:
                cell.number_format = "@"
            elif c in date_cols:
                cell.number_format = "yyyy-mm-dd"
    validations = [
        (_list_validation("性别", ("男", "女")), "sex"),
        (_list_validation("人员身份", PERSON_KINDS), "kind"),
        (_date_validation("出生日期"), "birth_date"),
        (_date_validation("参加工作日期"), "work_date"),
        (_date_validation("起薪日期"), "start_date"),
        (_wage_validation(settings), "wage"),
    ]
    for dv, key in validations:
        dv.add(_range(columns, key, 2, last))
        ws.add_data_validation(dv)
    id_dv = DataValidation(type="textLength", operator="equal", formula1="18", allow_blank=True, showErrorMessage=True)
    id_dv.errorTitle = "公民身份号码不正确"
    id_dv.error = "公民身份号码应为18位"
    id_dv.add(_range(columns, "id_number", 2, last))
    ws.add_data_validation(id_dv)
    _protect(ws)
    _help_sheet(
        wb,
        f"{unit_name} 人员基本信息登记（批量）填写说明",
        (
            f"1. 每行登记一人，最多{_BLANK_INPUT_ROWS}人；公民身份号码请按文本填写，不要存成数字。",
            "2. 带*的列必填；日期格式如 2024-03-01；性别、人员身份请从下拉列表选择。",
            "3. 不要填写公式，不要设置打开密码，不要包含宏。",
        ),
        columns,
    )
    return _save(wb)


def stop_template(roster: Sequence[RosterEntry], *, unit_name: str, on: date | None = None) -> bytes:
    """The batch 人员停保（减员）workbook pre-filled with the current staff, as xlsx bytes.

    ``on``, when given, is shown in the instructions as the usual stop date.
    """
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = STOP_SHEET
    wb.properties.title = "人员停保（减员）（批量）"
    wb.properties.subject = unit_name
    columns = STOP_COLUMNS
    header_row(ws, columns, border=_BORDER)
    _prefill(ws, columns, roster, ("stop_date", "reason", "remark"))
    last = max(len(roster) + 1, 2)
    for r in range(2, last + 1):
        ws.cell(row=r, column=_col_index(columns, "stop_date")).number_format = "yyyy-mm-dd"
    date_dv = _date_validation("停保日期")
    date_dv.add(_range(columns, "stop_date", 2, last))
    reason_dv = _list_validation("停保原因", STOP_REASONS)
    reason_dv.add(_range(columns, "reason", 2, last))
    ws.add_data_validation(date_dv)
    ws.add_data_validation(reason_dv)
    _protect(ws)
    hint = f"（通常为 {on.isoformat()}）" if on is not None else ""
    _help_sheet(
        wb,
        f"{unit_name} 人员停保（减员）填写说明",
        (
            "1. 表中列出了本单位全部在职参保人员；只为需要停保的人员填写停保日期和原因，其余行留空即可。",
            f"2. 停保日期填写停止缴费的日期{hint}；停保原因从下拉列表选择。",
            "3. 停保日期早于当前月份的，系统将按规定计算应退还的费用（退收）。",
            "4. 不要填写公式，不要设置打开密码，不要包含宏。",
        ),
        columns,
    )
    return _save(wb)
