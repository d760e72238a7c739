"""Reading and checking an uploaded 年度缴费工资申报 (xlsx, xls or ods).

``read_declaration`` reads the declaration sheet through ``sheet.read_upload`` (container checks
first, then python-calamine row by row, never evaluating a formula) and checks every row against
the unit's roster: the person (number, name, 个人编号, one row each), the monthly average wage (a
positive amount with at most two decimals, under the configured ceiling) and the optional 起薪日期
(in the declared year). File-level problems raise a ``WagefileError``; row and cell problems are
collected, all of them, as ``CellError`` values. Nothing is accepted unless the whole file is
clean: ``Declaration.require_clean`` raises ``DeclarationRejected`` with every error, and the
caller stores nothing before it has returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from hub.wagefile.config import WagefileSettings
from hub.wagefile.matching import Getter, RosterChecker
from hub.wagefile.model import CellError, DeclaredWage, RosterEntry
from hub.wagefile.normalize import CellValue, parse_amount, parse_date
from hub.wagefile.sheet import Upload, read_upload
from hub.wagefile.template import DECLARATION_COLUMNS, DECLARATION_SHEET

Declaration = Upload[DeclaredWage]


class _DeclarationChecker(RosterChecker):
    def __init__(
        self, roster: Sequence[RosterEntry], year: int, columns: dict[str, int], offset: int, settings: WagefileSettings
    ) -> None:
        super().__init__(roster, columns, offset, DECLARATION_COLUMNS)
        self.year = year
        self.settings = settings

    def check(self, row: int, values: list[CellValue], errors: list[CellError]) -> DeclaredWage | None:
        get = self.getter(values)
        before = len(errors)
        person = self.identify(row, get, errors)
        wage = self._wage(row, get("wage"), errors)
        start = self._start(row, get, errors)
        remark = self.remark(row, get, errors)
        if len(errors) > before or person is None or wage is None:
            return None
        return DeclaredWage(row, person.person_id, person.id_number, person.name, wage, start, remark)

    def finish(self, errors: list[CellError]) -> None:
        if self.settings.require_all_staff:
            self.missing_staff(errors)

    def _wage(self, row: int, raw: CellValue, errors: list[CellError]) -> Decimal | None:
        wage = self.parsed(errors, row, "wage", raw, parse_amount, ("wage_missing", "申报月平均工资不能为空"))
        if wage is not None and wage > self.settings.max_monthly_wage:
            self.error(
                errors,
                row,
                "wage",
                "wage_out_of_range",
                f"金额超过{self.settings.max_monthly_wage}元的上限，请确认填写的是月平均工资而不是年工资总额",
            )
            return None
        return wage

    def _start(self, row: int, get: Getter, errors: list[CellError]) -> date | None:
        if "start_date" not in self.columns:
            return None
        start = self.parsed(errors, row, "start_date", get("start_date"), parse_date, None)  # blank: not new
        if start is not None and start.year != self.year:
            self.error(
                errors, row, "start_date", "date_out_of_range", f"起薪日期应在{self.year}年内（仅新入职人员填写）"
            )
            return None
        return start


def read_declaration(
    data: bytes, roster: Sequence[RosterEntry], *, year: int, settings: WagefileSettings
) -> Declaration:
    """Read and check an uploaded declaration of the wages of ``year`` against the unit's roster.

    Raises a ``WagefileError`` subclass when the file as a whole cannot be taken (size, type,
    password, macros, zip bomb, unsafe XML, rows or columns over the limit, no header, no data).
    Otherwise returns a ``Declaration`` holding the accepted rows and every row or cell error;
    nothing is stored here, and the caller stores nothing unless ``require_clean`` returns.
    """
    return read_upload(
        data,
        settings,
        columns=DECLARATION_COLUMNS,
        preferred_sheet=DECLARATION_SHEET,
        make_checker=lambda columns, offset: _DeclarationChecker(roster, year, columns, offset, settings),
    )
