"""The person lists of the collection forms: one person a line, fields separated by commas or tabs (as
copied from a spreadsheet), in the column order shown next to the field. Only the split is done here; the
values are checked by the payload's validators, which name the row and the field."""

from __future__ import annotations

import re
from typing import Any

_SEPARATORS = re.compile(r"\t|,|，")

STAFF_COLUMNS = (
    "id_number",
    "name",
    "work_start",
    "phone",
    "start_date",
    "monthly_wage",
    "ethnicity",
    "position_level",
)
STAFF_REQUIRED = 6
STAFF_HINT = "公民身份号码,姓名,参加工作时间,手机号码,参保日期,月缴费工资[,民族代码][,职务职级]"
RETIREE_COLUMNS = ("id_number", "name", "work_start", "retire_date", "phone", "ethnicity")
RETIREE_REQUIRED = 4
RETIREE_HINT = "公民身份号码,姓名,参加工作时间,离退休日期[,手机号码][,民族代码]"
MAX_LINES = 5000
UNIT_FIELDS = (
    "uscc", "name", "unit_type", "funding", "region_code", "address", "contact_name", "contact_phone",
    "bank_name", "bank_account",
)  # fmt: skip


class RowsError(ValueError):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("；".join(messages))
        self.messages = messages


def parse(text: str, columns: tuple[str, ...], required: int, label: str) -> list[dict[str, Any]]:
    """The lines of ``text`` as dicts (empty optional columns left out); RowsError names each bad line."""
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    lines = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    if len(lines) > MAX_LINES:
        raise RowsError([f"{label}最多{MAX_LINES}行"])
    for n, line in enumerate(lines, start=1):
        cells = [cell.strip() for cell in _SEPARATORS.split(line.strip())]
        if len(cells) < required or len(cells) > len(columns):
            errors.append(f"{label}第{n}行应有{required}至{len(columns)}项，实有{len(cells)}项")
            continue
        rows.append({key: value for key, value in zip(columns, cells, strict=False) if value})
    if errors:
        raise RowsError(errors)
    return rows


def text_of(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """The form text of parsed rows (to show a saved collection again)."""
    out = []
    for row in rows:
        cells = [str(row.get(key, "")) for key in columns]
        while cells and not cells[-1]:
            cells.pop()
        out.append(",".join(cells))
    return "\n".join(out)


def payload_of(fields: dict[str, str]) -> dict[str, Any]:
    """The collection of a submitted form (unit fields by name, the two person lists as text)."""
    unit = {key: fields[key].strip() for key in UNIT_FIELDS if fields.get(key, "").strip()}
    errors: list[str] = []
    staff: list[dict[str, Any]] = []
    retirees: list[dict[str, Any]] = []
    try:
        staff = parse(fields.get("staff", ""), STAFF_COLUMNS, STAFF_REQUIRED, "在职人员")
    except RowsError as exc:
        errors += exc.messages
    try:
        retirees = parse(fields.get("retirees", ""), RETIREE_COLUMNS, RETIREE_REQUIRED, "离退休人员")
    except RowsError as exc:
        errors += exc.messages
    if errors:
        raise RowsError(errors)
    return {"unit": unit, "staff": staff, "retirees": retirees}
