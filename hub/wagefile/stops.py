"""Reading and checking an uploaded batch 人员停保（减员）file (the ``stop_template`` filled in).

The template lists every current staff member; the clerk fills 停保日期 and 停保原因 for those who
leave and leaves the other rows alone. A row with neither is not a request; a row with one of them
must have both, and its person must be on the roster (number, name, 个人编号) and appear once.
How far back or ahead a stop date may lie is the caller's decision (``not_before``/``not_after``),
as are the 退收 consequences of a past date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from hub.wagefile.config import WagefileSettings
from hub.wagefile.errors import NoData
from hub.wagefile.matching import RosterChecker
from hub.wagefile.model import CellError, RosterEntry
from hub.wagefile.normalize import CellValue, is_blank, normalize_text, parse_date
from hub.wagefile.sheet import Upload, read_upload
from hub.wagefile.template import STOP_COLUMNS, STOP_REASONS, STOP_SHEET


@dataclass(frozen=True, slots=True)
class StopRequest:
    """One accepted row: stop the person's contributions from ``stop_date`` for ``reason``."""

    row: int
    person_id: str
    id_number: str
    name: str
    stop_date: date
    reason: str
    remark: str


StopBatch = Upload[StopRequest]


class _StopChecker(RosterChecker):
    def __init__(
        self,
        roster: Sequence[RosterEntry],
        columns: dict[str, int],
        offset: int,
        not_before: date | None,
        not_after: date | None,
    ) -> None:
        super().__init__(roster, columns, offset, STOP_COLUMNS)
        self.not_before = not_before
        self.not_after = not_after

    def check(self, row: int, values: list[CellValue], errors: list[CellError]) -> StopRequest | None:
        get = self.getter(values)
        raw_date, raw_reason = get("stop_date"), get("reason")
        if is_blank(raw_date) and is_blank(raw_reason):
            return None  # a pre-filled person who stays
        before = len(errors)
        person = self.identify(row, get, errors)
        stop = self._date(row, raw_date, errors)
        reason = normalize_text(raw_reason)
        if not reason:
            self.error(errors, row, "reason", "reason_missing", "请选择停保原因")
        elif reason not in STOP_REASONS:
            self.error(errors, row, "reason", "reason_unknown", f"停保原因应为以下之一：{'、'.join(STOP_REASONS)}")
        remark = self.remark(row, get, errors)
        if len(errors) > before or person is None or stop is None:
            return None
        return StopRequest(row, person.person_id, person.id_number, person.name, stop, reason, remark)

    def finish(self, errors: list[CellError]) -> None:
        return None

    def _date(self, row: int, raw: CellValue, errors: list[CellError]) -> date | None:
        day = self.parsed(errors, row, "stop_date", raw, parse_date, ("stop_date_missing", "请填写停保日期"))
        if day is None:
            return None
        if (self.not_before is not None and day < self.not_before) or (
            self.not_after is not None and day > self.not_after
        ):
            first = self.not_before.isoformat() if self.not_before else "不限"
            last = self.not_after.isoformat() if self.not_after else "不限"
            self.error(errors, row, "stop_date", "date_out_of_range", f"停保日期应在 {first} 至 {last} 之间")
            return None
        return day


def read_stop_batch(
    data: bytes,
    roster: Sequence[RosterEntry],
    *,
    settings: WagefileSettings,
    not_before: date | None = None,
    not_after: date | None = None,
) -> StopBatch:
    """Read and check an uploaded batch stop file against the unit's roster.

    Raises a ``WagefileError`` subclass for a file that cannot be taken, and ``NoData`` when no
    row asks for a stop. ``require_clean`` on the result gives the requests only if every row is
    right; nothing is stored here.
    """
    batch = read_upload(
        data,
        settings,
        columns=STOP_COLUMNS,
        preferred_sheet=STOP_SHEET,
        make_checker=lambda columns, offset: _StopChecker(roster, columns, offset, not_before, not_after),
    )
    if not batch.rows and not batch.errors:
        raise NoData("没有需要停保的人员：请为需要停保的人员填写停保日期和停保原因")
    return batch
