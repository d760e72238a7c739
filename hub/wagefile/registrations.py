"""Reading and checking an uploaded batch 人员基本信息登记 file (the ``registration_template``).

Each row registers a person who is not yet on the unit's roster. The 公民身份号码 is checked in
full with ``hub.ids`` (length, check digit, birth date, region), and what it encodes must agree
with the other columns: 性别 with the parity of the 17th digit and 出生日期 with digits 7–14. The
person started work at 16 or later (参加工作日期), started at this unit (起薪日期) no earlier than
that, and is not listed twice; the monthly wage follows the declaration's rules. Phone numbers
are checked for shape only and never appear in a message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.ids import InvalidIdentifier, id_birth_date, id_sex, validate_id_number
from hub.wagefile.config import WagefileSettings
from hub.wagefile.matching import Getter, RowCheckerBase
from hub.wagefile.model import CellError, RosterEntry
from hub.wagefile.normalize import (
    CellValue,
    fold,
    normalize_id_number,
    normalize_name,
    normalize_text,
    parse_amount,
    parse_date,
)
from hub.wagefile.sheet import Upload, read_upload
from hub.wagefile.template import PERSON_KINDS, REGISTRATION_COLUMNS, REGISTRATION_SHEET

MIN_WORKING_AGE = 16  # 劳动法 Art. 15: no employment under 16
MAX_NAME_CHARS = 30
_SEXES = {"男": "1", "女": "2", "1": "1", "2": "2"}
_PHONE = re.compile(r"1\d{10}")


@dataclass(frozen=True, slots=True)
class Registration:
    """One accepted row of a batch registration."""

    row: int
    id_number: str
    name: str
    sex: str  # "1" male, "2" female (AAC004)
    nation: str
    birth_date: date
    work_date: date
    phone: str
    kind: str
    start_date: date
    wage: Decimal


RegistrationBatch = Upload[Registration]


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


class _RegistrationChecker(RowCheckerBase):
    def __init__(
        self, roster: Sequence[RosterEntry], columns: dict[str, int], offset: int, settings: WagefileSettings
    ) -> None:
        super().__init__(columns, offset, REGISTRATION_COLUMNS)
        self.on_roster = {normalize_id_number(p.id_number) for p in roster}
        self.settings = settings

    def check(self, row: int, values: list[CellValue], errors: list[CellError]) -> Registration | None:
        get = self.getter(values)
        before = len(errors)
        # In the order of the columns, so that a row's errors read left to right.
        number = self._number(row, get("id_number"), errors)
        name = self._name(row, get("name"), errors)
        sex = self._sex(row, get("sex"), number, errors)
        nation = normalize_text(get("nation"))
        if len(nation) > 20:
            self.error(errors, row, "nation", "nation_format", "民族名称过长")
        birth = self._date(row, get, "birth_date", errors)
        if birth is not None and number is not None and birth != id_birth_date(number):
            self.error(errors, row, "birth_date", "birth_date_mismatch", "出生日期与公民身份号码不符")
        work = self._date(row, get, "work_date", errors)
        if work is not None and number is not None and work < _years_after(id_birth_date(number), MIN_WORKING_AGE):
            self.error(errors, row, "work_date", "work_date_too_early", f"参加工作时未满{MIN_WORKING_AGE}周岁，请核对")
        phone = fold(normalize_text(get("phone"))).replace("-", "")
        if phone and not _PHONE.fullmatch(phone):
            self.error(errors, row, "phone", "phone_format", "手机号码应为以1开头的11位数字")
        kind = normalize_text(get("kind"))
        if not kind:
            self.error(errors, row, "kind", "kind_missing", "请选择人员身份")
        elif kind not in PERSON_KINDS:
            self.error(errors, row, "kind", "kind_unknown", f"人员身份应为以下之一：{'、'.join(PERSON_KINDS)}")
        start = self._date(row, get, "start_date", errors)
        if start is not None and work is not None and start < work:
            self.error(errors, row, "start_date", "start_before_work", "起薪日期不能早于参加工作日期")
        wage = self._wage(row, get("wage"), errors)
        if (
            len(errors) > before
            or number is None
            or name is None
            or sex is None
            or birth is None
            or work is None
            or start is None
            or wage is None
        ):
            return None
        return Registration(row, number, name, sex, nation, birth, work, phone, kind, start, wage)

    def finish(self, errors: list[CellError]) -> None:
        return None

    def _number(self, row: int, raw: CellValue, errors: list[CellError]) -> str | None:
        number = self.parsed(errors, row, "id_number", raw, normalize_id_number, ("id_missing", "公民身份号码不能为空"))
        if number is None:
            return None
        try:
            number = validate_id_number(number)
        except InvalidIdentifier as exc:
            self.error(errors, row, "id_number", f"id_{exc.reason}", exc.message)
            return None
        if number in self.on_roster:
            self.error(errors, row, "id_number", "already_registered", "该人员已是本单位在职参保人员，无需重复登记")
            return None
        return number if self.first_row(errors, row, number) else None

    def _name(self, row: int, raw: CellValue, errors: list[CellError]) -> str | None:
        name = self.parsed(errors, row, "name", raw, normalize_name, ("name_missing", "姓名不能为空"))
        if name is None:
            return None
        if len(name) > MAX_NAME_CHARS or any(ch.isdigit() for ch in name):
            self.error(errors, row, "name", "name_format", "姓名格式不正确，请与身份证一致")
            return None
        return name

    def _sex(self, row: int, raw: CellValue, number: str | None, errors: list[CellError]) -> str | None:
        sex = _SEXES.get(normalize_text(raw))
        if sex is None:
            self.error(errors, row, "sex", "sex_format", "性别应填写“男”或“女”")
            return None
        if number is not None and sex != id_sex(number):
            self.error(errors, row, "sex", "sex_mismatch", "性别与公民身份号码不符")
            return None
        return sex

    def _date(self, row: int, get: Getter, key: str, errors: list[CellError]) -> date | None:
        return self.parsed(errors, row, key, get(key), parse_date, (f"{key}_missing", f"{self.labels[key]}不能为空"))

    def _wage(self, row: int, raw: CellValue, errors: list[CellError]) -> Decimal | None:
        wage = self.parsed(errors, row, "wage", raw, parse_amount, ("wage_missing", "起薪当月工资不能为空"))
        if wage is not None and wage > self.settings.max_monthly_wage:
            self.error(errors, row, "wage", "wage_out_of_range", f"金额超过{self.settings.max_monthly_wage}元的上限")
            return None
        return wage


def read_registrations(data: bytes, roster: Sequence[RosterEntry], *, settings: WagefileSettings) -> RegistrationBatch:
    """Read and check an uploaded batch registration; ``roster`` is the unit's current staff.

    Raises a ``WagefileError`` subclass for a file that cannot be taken; ``require_clean`` on the
    result gives the registrations only if every row is right. Nothing is stored here.
    """
    return read_upload(
        data,
        settings,
        columns=REGISTRATION_COLUMNS,
        preferred_sheet=REGISTRATION_SHEET,
        make_checker=lambda columns, offset: _RegistrationChecker(roster, columns, offset, settings),
    )
