"""Staff-authored notices sent to an uploaded list (CSV or XLSX): the text, the list's checks, the recipients.

The staff member writes the notice; ``{列名}`` in it takes each recipient's value from that column of the list
(``{姓名}`` for the column 姓名). Personal data put in a text is masked as the SMS templates mask it (name, ID
number, phone: DOMAIN §6.2). Each recipient's text is rendered when the job is created and kept as the
``content`` of the ``staff_notice`` template, so preview, approval and sending work as for any other job.

A list is read whole before anything is stored: whole-file problems (size, type, macros, rows over the limit,
missing columns) raise ``WagefileError`` (413/415/422), row problems come back as one Chinese line each, and a
job is created only from a list without any.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hub.ids import mask_id_number, mask_name, mask_phone
from hub.messaging import templates
from hub.wagefile.config import WagefileSettings
from hub.wagefile.errors import FileTooLarge, MissingColumns, NoData, TooManyColumns, TooManyRows
from hub.wagefile.model import CellError, Column, column_letter, header_key
from hub.wagefile.normalize import CellValue, cell_text, is_blank
from hub.wagefile.sheet import read_upload
from sms import text
from sms.jobs import PHONE, Recipient

TEMPLATE = "staff_notice"
# A notice is at most this many UTF-16 units once filled in and signed: five billed segments (5 × 67), so
# a notice never costs more than five SMS per recipient. Longer texts are a letter, not an SMS.
MAX_NOTICE_UNITS = 5 * text.SEGMENT_UNITS
MAX_VALUE_CHARS = 100  # one column's value in a text
MAX_FIELDS = 10
MAX_ERRORS_SHOWN = 50
PHONE_COLUMN = Column(
    "phone", "手机号码", True, 16, "11位手机号码", aliases=("phone", "手机号", "手机", "联系电话", "mobile")
)
# Columns whose value is personal data: masked in the text as the templates mask them.
_MASKED: dict[str, Callable[[str], str]] = {
    header_key(k): m
    for k, m in (
        ("姓名", mask_name),
        ("name", mask_name),
        ("身份证号码", mask_id_number),
        ("公民身份号码", mask_id_number),
        ("身份证号", mask_id_number),
        ("id_number", mask_id_number),
        ("手机号码", mask_phone),
        ("phone", mask_phone),
    )
}
_FIELD = re.compile(r"\{([^{}\s]{1,20})\}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SIGNATURE = re.compile(r"[【】]")


class NoticeError(ValueError):
    """The notice text cannot be sent; the message is user-facing (Simplified Chinese)."""


@dataclass(frozen=True)
class Notice:
    """A checked notice text and the list columns it takes values from (in order of first use)."""

    body: str
    fields: tuple[str, ...]

    def render(self, values: dict[str, str]) -> str:
        """The text for one recipient: every ``{列名}`` filled in (personal data masked)."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            raw = values[name]
            mask = _MASKED.get(header_key(name))
            return mask(raw) if mask else raw

        return _FIELD.sub(value, self.body)


def notice(body: str, *, mandatory: bool, signature: str) -> Notice:
    """Check a staff-written text: not empty, no signature brackets, no code words, known fields, bounded."""
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise NoticeError("请填写通知正文")
    if _SIGNATURE.search(body):
        raise NoticeError("正文中不能含有“【】”：短信签名由系统统一添加")
    if any(word in body for word in templates.CODE_WORDS):
        raise NoticeError("工作通知中不能含有“验证码”等字样，以免被误认为验证短信")
    if _CONTROL.search(body) or "\n" in body:
        raise NoticeError("正文请写成一段，不要换行或使用特殊控制字符")
    if "{" in _FIELD.sub("", body) or "}" in _FIELD.sub("", body):
        raise NoticeError("正文中的花括号只能用于引用名单中的列，例如 {姓名}")
    fields = tuple(dict.fromkeys(_FIELD.findall(body)))
    if len(fields) > MAX_FIELDS:
        raise NoticeError(f"正文最多引用 {MAX_FIELDS} 列")
    if any(header_key(f) in {header_key(a) for a in (PHONE_COLUMN.label, *PHONE_COLUMN.aliases)} for f in fields):
        raise NoticeError("正文中不能引用手机号码")
    checked = Notice(body, fields)
    # Too long even with every field empty (each row is checked again once filled in).
    if _units(_FIELD.sub("", body), mandatory, signature) > MAX_NOTICE_UNITS:
        raise NoticeError(f"正文过长：连同签名和退订提示不能超过 {MAX_NOTICE_UNITS} 字（5条短信），请精简后再试")
    return checked


def _units(body: str, mandatory: bool, signature: str) -> int:
    return text.units(text.sign(signature, templates.render(TEMPLATE, {"content": body}, mandatory=mandatory)))


@dataclass
class NoticeList:
    """What a list gave: the recipients (with the rendered text as ``content``) and every row error."""

    recipients: list[Recipient] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def messages(self) -> list[str]:
        """The errors as Chinese lines (第5行 B列（姓名）：…), the first ``MAX_ERRORS_SHOWN``."""
        return [e.describe() for e in self.errors[:MAX_ERRORS_SHOWN]]


class _Checker:
    """Checks one row of a list (the columns: phone and the notice's fields)."""

    def __init__(
        self, notice: Notice, columns: dict[str, int], offset: int, mandatory: bool, signature: str, out: NoticeList
    ) -> None:
        self.notice = notice
        self.columns = columns
        self.offset = offset
        self.mandatory = mandatory
        self.signature = signature
        self.out = out
        self.seen: dict[str, int] = {}

    def _error(self, errors: list[CellError], row: int, key: str, label: str, code: str, message: str) -> None:
        errors.append(CellError(row, label, column_letter(self.columns[key] + self.offset), code, message))

    def check(self, row: int, values: list[CellValue], errors: list[CellError]) -> Recipient | None:
        def get(key: str) -> CellValue:
            i = self.columns[key]
            return values[i] if i < len(values) else None

        before = len(errors)
        raw_phone = get("phone")
        phone = "".join(cell_text(raw_phone).split()) if not is_blank(raw_phone) else ""
        if not phone:
            self._error(errors, row, "phone", PHONE_COLUMN.label, "phone_missing", "请填写手机号码")
        elif not PHONE.match(phone):
            shown = mask_phone(phone) if phone.isdigit() else "非数字"
            self._error(errors, row, "phone", PHONE_COLUMN.label, "phone_format", f"手机号码格式不正确（{shown}）")
        elif phone in self.seen:
            self._error(
                errors, row, "phone", PHONE_COLUMN.label, "phone_duplicate", f"手机号码与第{self.seen[phone]}行重复"
            )
        else:
            self.seen[phone] = row
        values_by_field: dict[str, str] = {}
        for name in self.notice.fields:
            raw = get(name)
            value = " ".join(cell_text(raw).split()) if not is_blank(raw) else ""
            if not value:
                self._error(errors, row, name, name, "value_missing", f"请填写“{name}”（正文中引用了该列）")
            elif len(value) > MAX_VALUE_CHARS or _CONTROL.search(value) or _SIGNATURE.search(value):
                self._error(
                    errors,
                    row,
                    name,
                    name,
                    "value_format",
                    f"内容过长（超过{MAX_VALUE_CHARS}字）或含有“【】”等不允许的字符",
                )
            values_by_field[name] = value
        if len(errors) > before:
            return None
        content = self.notice.render(values_by_field)
        if _units(content, self.mandatory, self.signature) > MAX_NOTICE_UNITS:
            errors.append(
                CellError(row, None, None, "too_long", f"填入本行内容后短信超过 {MAX_NOTICE_UNITS} 字（5条短信）")
            )
            return None
        return Recipient(phone, {"content": content})

    def finish(self, errors: list[CellError]) -> None:
        return None


def _columns(notice: Notice) -> list[Column]:
    return [PHONE_COLUMN, *(Column(f, f, True, 20, f"正文中的 {{{f}}}") for f in notice.fields)]


def read_list(
    data: bytes, notice: Notice, settings: WagefileSettings, *, mandatory: bool, signature: str
) -> NoticeList:
    """Read a CSV (UTF-8 or GB18030) or a spreadsheet (xlsx, xls, ods: by content, never by name) whole.

    Raises ``WagefileError`` when the file as a whole cannot be taken; row errors are in the result.
    """
    out = NoticeList()
    columns = _columns(notice)

    def make_checker(found: dict[str, int], offset: int) -> _Checker:
        return _Checker(notice, found, offset, mandatory, signature, out)

    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        upload = read_upload(data, settings, columns=columns, preferred_sheet="名单", make_checker=make_checker)
        out.recipients, out.errors = list(upload.rows), list(upload.errors)
        return out
    if len(data) > settings.max_file_bytes:
        raise FileTooLarge(f"文件大小超过上限 {settings.max_file_bytes // (1024 * 1024)} MB，请拆分后分批上传")
    rows = list(csv.reader(io.StringIO(_decode(data))))
    if any(len(r) > settings.max_columns for r in rows[: settings.header_search_rows + settings.max_rows]):
        raise TooManyColumns(f"列数超过上限 {settings.max_columns} 列")
    header_at, found = _csv_header(rows, columns, settings)
    checker = make_checker(found, 0)
    count = 0
    for number, values in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if all(not v.strip() for v in values):
            continue
        count += 1
        if count > settings.max_rows:
            raise TooManyRows(f"数据超过上限 {settings.max_rows} 行，请拆分后分批上传")
        cells: list[CellValue] = [*values]
        accepted = checker.check(number, cells, out.errors)
        if accepted is not None:
            out.recipients.append(accepted)
    if count == 0:
        raise NoData("名单中没有数据行，请在表头下方逐行填写")
    return out


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")  # what Excel saves as "CSV" on a Chinese Windows
    except UnicodeDecodeError:
        raise MissingColumns("无法识别文件的编码，请另存为 UTF-8 编码的 CSV 或 xlsx 后重新上传") from None


def _csv_header(
    rows: Sequence[list[str]], columns: Sequence[Column], settings: WagefileSettings
) -> tuple[int, dict[str, int]]:
    wanted: dict[str, str] = {}
    for col in columns:
        for label in (col.label, *col.aliases):
            wanted.setdefault(header_key(label), col.key)
    best: tuple[int, dict[str, int]] | None = None
    for index, values in enumerate(rows[: settings.header_search_rows]):
        found: dict[str, int] = {}
        for i, value in enumerate(values):
            key = wanted.get(header_key(value))
            if key is not None and key not in found:
                found[key] = i
        if all(c.key in found for c in columns):
            return index, found
        if found and (best is None or len(found) > len(best[1])):
            best = (index, found)
    if best is None:
        names = "、".join(f"“{c.label}”" for c in columns)
        raise MissingColumns(f"未找到表头行（应包含{names}）")
    missing = "、".join(f"“{c.label}”" for c in columns if c.key not in best[1])
    raise MissingColumns(f"第{best[0] + 1}行表头缺少列：{missing}")
