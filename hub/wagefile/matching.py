"""Matching uploaded rows to the unit's roster: 公民身份号码, 姓名 and 个人编号, one row per person.

The roster comes from the core and is authoritative: a number found in it is the person, whatever
``hub.ids`` would say of it; ``hub.ids`` only explains why a number that is not in it is wrong
(length, check digit, birth date, region).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from hub.ids import InvalidIdentifier, validate_id_number
from hub.wagefile.model import CellError, Column, RosterEntry, column_letter
from hub.wagefile.normalize import (
    CellValue,
    CellValueError,
    is_blank,
    normalize_id_number,
    normalize_name,
    normalize_text,
)

MAX_REMARK_CHARS = 200

Getter = Callable[[str], CellValue]
T = TypeVar("T")


class RowCheckerBase:
    """Where a row's values are (column key → index) and how an error names its cell."""

    def __init__(self, columns: dict[str, int], offset: int, labels: Sequence[Column]) -> None:
        self.columns = columns
        self.offset = offset
        self.labels = {c.key: c.label for c in labels}
        self.seen: dict[str, int] = {}  # 公民身份号码 → the sheet row of its first row

    def getter(self, values: list[CellValue]) -> Getter:
        cols = self.columns
        n = len(values)

        def get(key: str) -> CellValue:
            i = cols.get(key)
            return values[i] if i is not None and i < n else ""

        return get

    def error(self, errors: list[CellError], row: int, key: str, code: str, message: str) -> None:
        errors.append(CellError(row, self.labels[key], column_letter(self.offset + self.columns[key]), code, message))

    def first_row(self, errors: list[CellError], row: int, number: str) -> bool:
        """Whether ``row`` is the first of the person ``number``; a later one is recorded as a duplicate."""
        first = self.seen.get(number)
        if first is not None:
            self.error(errors, row, "id_number", "duplicate_person", f"与第{first}行是同一人，每人只能填写一行")
            return False
        self.seen[number] = row
        return True

    def parsed(
        self,
        errors: list[CellError],
        row: int,
        key: str,
        raw: CellValue,
        parse: Callable[[CellValue], T],
        missing: tuple[str, str] | None,
    ) -> T | None:
        """``parse(raw)``, or None once the reason is recorded: a blank cell (``missing`` is its code and
        message; None when the cell may stay blank, which records nothing) or the parser's own code and
        message. Checks of the parsed value's range follow in the caller."""
        if is_blank(raw):
            if missing is not None:
                self.error(errors, row, key, *missing)
            return None
        try:
            return parse(raw)
        except CellValueError as exc:
            self.error(errors, row, key, exc.code, exc.message)
            return None


class RosterChecker(RowCheckerBase):
    """Base of the checkers of rows about persons on the roster: identity and one row each."""

    def __init__(
        self, roster: Sequence[RosterEntry], columns: dict[str, int], offset: int, labels: Sequence[Column]
    ) -> None:
        super().__init__(columns, offset, labels)
        self.by_id: dict[str, RosterEntry] = {normalize_id_number(p.id_number): p for p in roster}
        self.roster_names = {number: normalize_name(p.name) for number, p in self.by_id.items()}

    def identify(self, row: int, get: Getter, errors: list[CellError]) -> RosterEntry | None:
        """The roster person of the row, checking the number, the name and the 个人编号."""
        found = self._person(row, get("id_number"), errors)
        if found is None:
            return None
        number, person = found
        name = self.parsed(errors, row, "name", get("name"), normalize_name, ("name_missing", "姓名不能为空"))
        if name is not None and name != self.roster_names[number]:
            self.error(errors, row, "name", "name_mismatch", f"姓名与名册不一致（名册中为“{person.name}”）")
        raw_pid = get("person_id")
        if "person_id" in self.columns and not is_blank(raw_pid) and normalize_text(raw_pid) != person.person_id:
            self.error(errors, row, "person_id", "person_id_mismatch", "个人编号与公民身份号码不对应，请勿修改预填内容")
        return person

    def _person(self, row: int, raw: CellValue, errors: list[CellError]) -> tuple[str, RosterEntry] | None:
        number = self.parsed(errors, row, "id_number", raw, normalize_id_number, ("id_missing", "公民身份号码不能为空"))
        if number is None:
            return None
        person = self.by_id.get(number)
        if person is None:
            try:
                validate_id_number(number)
            except InvalidIdentifier as exc:
                self.error(errors, row, "id_number", f"id_{exc.reason}", exc.message)
                return None
            self.error(
                errors,
                row,
                "id_number",
                "unknown_person",
                "该人员不在本单位在职参保人员名册中（新入职人员请先办理参保登记）",
            )
            return None
        return (number, person) if self.first_row(errors, row, number) else None

    def remark(self, row: int, get: Getter, errors: list[CellError]) -> str:
        remark = normalize_text(get("remark")) if "remark" in self.columns else ""
        if len(remark) > MAX_REMARK_CHARS:
            self.error(errors, row, "remark", "remark_too_long", f"备注不能超过{MAX_REMARK_CHARS}个字")
        return remark

    def missing_staff(self, errors: list[CellError]) -> None:
        """One error of the whole file per roster person without a row."""
        for number, person in self.by_id.items():
            if number not in self.seen:
                errors.append(
                    CellError(
                        None,
                        None,
                        None,
                        "person_missing",
                        f"名册中的“{person.name}”（个人编号 {person.person_id}）没有申报行，请补充",
                    )
                )
