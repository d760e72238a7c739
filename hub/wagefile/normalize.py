"""Normalisation of what clerks type into spreadsheet cells.

Office suites and input methods produce full-width digits (１２３), full-width letters (Ｘ),
ideographic spaces (U+3000), no-break and zero-width spaces and several middle dots in minority
names. Everything is folded with NFKC and stray spaces are dropped before a value is checked, so
``" 4301０２１９９０\u300001011234 "`` and ``"430102199001011234"`` are the same number.

Cell values arrive as calamine gives them: ``str``, ``int``, ``float``, ``bool``, ``date`` or
``datetime``. A number cell is a binary double; it becomes a ``Decimal`` through its shortest
round-trip text (``repr``), which is exactly the decimal the spreadsheet displays and stores, so
1234.56 typed in Excel stays 1234.56 and a computed 0.30000000000000004 shows up as having too many
decimals instead of being silently rounded.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

CellValue = str | int | float | bool | date | datetime | timedelta | object

# Whitespace NFKC leaves in place, plus the zero-width characters pasted from web pages.
_STRAY = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
# Middle dots seen in names of ethnic minorities (买买提·艾力): all become U+00B7.
_DOTS = str.maketrans({"\u2022": "·", "\u30fb": "·", "\u2027": "·", "\u2219": "·", "\u22c5": "·", "\u0387": "·"})
_AMOUNT = re.compile(r"(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.(\d+))?")
_DATE_YMD = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_DATE_YM = re.compile(r"(\d{4})[-/.年](\d{1,2})月?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})?")

# Excel's 1900 date system: serial 1 is 1900-01-01 and serial 60 is the non-existent 1900-02-29
# that Lotus 1-2-3 invented; from 61 on, serial n is 1899-12-30 + n days.
_EXCEL_EPOCH = date(1899, 12, 30)
_FEN = Decimal("0.01")
_MIN_YEAR = 1900
_MAX_YEAR = 2199


class CellValueError(ValueError):
    """A cell value cannot be used; ``str(exc)`` is the Chinese message, ``code`` a stable key."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def is_blank(value: CellValue) -> bool:
    """Empty cells come back from calamine as ``""``; a cell holding only spaces counts as empty."""
    if value is None:
        return True
    return isinstance(value, str) and not _STRAY.sub("", value)


def fold(text: str) -> str:
    """NFKC (full-width → half-width) and every space removed."""
    if text.isascii() and text.isalnum():  # the usual case: nothing to fold
        return text
    return _STRAY.sub("", unicodedata.normalize("NFKC", text))


def cell_text(value: CellValue) -> str:
    """A cell as text for display and for the annotated workbook (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return repr(value)[:-2] if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def normalize_id_number(value: CellValue) -> str:
    """The ID number as text, folded and upper-cased; a number cell is refused (digits were lost)."""
    if isinstance(value, bool):
        raise CellValueError("公民身份号码应为文本", "id_format")
    if isinstance(value, int | float):
        # An 18-digit number does not fit a double: the last digits are already gone.
        raise CellValueError("公民身份号码被存成了数字，末几位可能已丢失，请将该列设为文本格式后重新填写", "id_numeric")
    if not isinstance(value, str):
        raise CellValueError("公民身份号码应为文本", "id_format")
    return fold(value).upper()


def normalize_name(value: CellValue) -> str:
    """A person's name folded, without spaces, with one kind of middle dot."""
    if not isinstance(value, str):
        raise CellValueError("姓名应为文本", "name_format")
    return fold(value).translate(_DOTS)


def normalize_text(value: CellValue) -> str:
    """Free text (remarks, person numbers): NFKC and trimmed, inner spaces collapsed to one."""
    text = unicodedata.normalize("NFKC", cell_text(value))
    return " ".join(_STRAY.split(text)).strip()


_HUGE = Decimal(10) ** 15  # far above any wage; keeps quantize within the decimal context


def parse_amount(value: CellValue) -> Decimal:
    """A positive amount of yuan with at most two decimals, returned with exactly two.

    Accepts number cells and text with full-width digits, stray spaces and thousands separators
    (``"５，０００.５０"``). Raises ``CellValueError`` with a Chinese message otherwise.
    """
    if isinstance(value, bool):
        raise CellValueError("应填写金额数字", "amount_format")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        text = fold(value)
        match = _AMOUNT.fullmatch(text)
        if match is None:
            if text.startswith("-") and _AMOUNT.fullmatch(text[1:]):
                raise CellValueError("金额必须大于0", "amount_not_positive")
            raise CellValueError("应填写金额数字，如 6500.00（不要填写单位或其他文字）", "amount_format")
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimal text
            raise CellValueError("应填写金额数字", "amount_format") from None
    else:
        raise CellValueError("应填写金额数字", "amount_format")
    if not amount.is_finite():
        raise CellValueError("应填写金额数字", "amount_format")
    if amount <= 0:
        raise CellValueError("金额必须大于0", "amount_not_positive")
    if amount >= _HUGE:
        raise CellValueError("金额过大，请填写以元为单位的月平均工资", "amount_too_large")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise CellValueError("金额最多保留两位小数（精确到分）", "amount_decimals")
    return amount.quantize(_FEN)  # exact: at most two decimals were checked above


_LAST_EXCEL_SERIAL = 2_958_466  # 9999-12-31 is serial 2,958,465 in the 1900 system


def excel_serial_date(serial: float) -> date:
    """The day of an Excel (1900 system) serial number; the time of day is dropped."""
    if not math.isfinite(serial) or not 1 <= serial < _LAST_EXCEL_SERIAL:
        raise CellValueError("日期不正确", "date_format")  # ±inf, NaN or far past 9999-12-31
    whole = int(serial)
    if whole < 1:
        raise CellValueError("日期不正确", "date_format")
    if whole == 60:
        raise CellValueError("日期不正确（1900年2月29日不存在）", "date_format")
    day = _EXCEL_EPOCH + timedelta(days=whole) if whole > 60 else date(1899, 12, 31) + timedelta(days=whole)
    if day.year > _MAX_YEAR:
        raise CellValueError("日期不正确", "date_format")
    return day


def _checked(year: int, month: int, day: int) -> date:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise CellValueError("日期年份不正确", "date_format")
    try:
        return date(year, month, day)
    except ValueError:
        raise CellValueError("日期不存在，请检查年、月、日", "date_format") from None


def parse_date(value: CellValue) -> date:
    """A date from a date cell, an Excel serial number, or text.

    Text may be 2024-01-05, 2024/1/5, 2024.1.5, 2024年1月5日, 20240105, or a month alone
    (2024-01, 2024年1月, 202401), which means its first day.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise CellValueError("应填写日期，如 2024-01-05", "date_format")
    if isinstance(value, int | float):
        return excel_serial_date(value)
    if not isinstance(value, str):
        raise CellValueError("应填写日期，如 2024-01-05", "date_format")
    text = fold(value)
    for pattern in (_DATE_YMD, _DATE_YM, _DATE_COMPACT):
        m = pattern.fullmatch(text)
        if m is not None:
            y, mo, d = m.group(1), m.group(2), m.group(3) if m.lastindex == 3 else None
            return _checked(int(y), int(mo), int(d) if d else 1)
    raise CellValueError("应填写日期，如 2024-01-05", "date_format")
