"""Values shared by the template, the parser, the preview and the annotated workbook."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.wagefile.normalize import fold


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One current staff member of the unit, as the caller's roster gives it.

    ``person_id`` is the core's 个人编号 (AAC001); ``id_number`` the 公民身份号码.
    """

    person_id: str
    id_number: str
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a template: its key, the Chinese header and the other headers accepted for it."""

    key: str
    label: str
    required: bool
    width: int
    help: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CellError:
    """One problem of an uploaded file, for the clerk.

    ``row`` is the 1-based row of the sheet (None: the file as a whole, e.g. a person missing
    from it); ``column`` the header label and ``letter`` the column letter (None: the whole row).
    ``code`` is a stable English key, ``message`` the Chinese text.
    """

    row: int | None
    column: str | None
    letter: str | None
    code: str
    message: str

    def describe(self) -> str:
        """The error as one line: 第5行 E列（申报月平均工资（元））：金额必须大于0."""
        where = []
        if self.row is not None:
            where.append(f"第{self.row}行")
        if self.letter is not None:
            where.append(f"{self.letter}列（{self.column}）" if self.column else f"{self.letter}列")
        return ("".join(where) + "：" if where else "") + self.message


@dataclass(frozen=True, slots=True)
class DeclaredWage:
    """One accepted row of the annual wage declaration (a monthly average of last year's wage)."""

    row: int
    person_id: str
    id_number: str
    name: str
    wage: Decimal
    start_date: date | None
    remark: str


def column_letter(index0: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    n = index0 + 1
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_HEADER_NOISE = re.compile(r"[（(][^)）]*[)）]|[*＊:：]|必填|选填")


def header_key(text: str) -> str:
    """A header compared loosely: folded, without notes in brackets, asterisks and 必填/选填."""
    return _HEADER_NOISE.sub("", fold(text))
