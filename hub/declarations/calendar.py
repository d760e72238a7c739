"""Working days for 限时办结: weekdays, minus public holidays, plus 调休 working days, as staff maintain them.

The calendar holds only the exceptions to the Monday–Friday week (``hub.work_calendar``): a ``holiday``
on a weekday and a ``workday`` on a weekend. The seed for 2026 is the State Council's arrangement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import psycopg

from hub.access.subject import Subject
from hub.audit import sync_writer as audit
from hub.declarations.access import require_maintainer
from hub.errors import ValidationFailed

DayKind = Literal["holiday", "workday"]

SEED_2026_SOURCE = (
    "国务院办公厅关于2026年部分节假日安排的通知（2025年11月4日，新华社发布；"
    "https://politics.gmw.cn/2025-11/04/content_38391083.htm）"
)


def _span(first: date, last: date, note: str) -> list[tuple[date, DayKind, str]]:
    return [(first + timedelta(days=i), "holiday", note) for i in range((last - first).days + 1)]


# Every day of each 放假 span is listed (weekend days included, harmlessly), and every 上班 day.
SEED_2026: tuple[tuple[date, DayKind, str], ...] = (
    *_span(date(2026, 1, 1), date(2026, 1, 3), "元旦"),
    (date(2026, 1, 4), "workday", "元旦调休上班"),
    *_span(date(2026, 2, 15), date(2026, 2, 23), "春节"),
    (date(2026, 2, 14), "workday", "春节调休上班"),
    (date(2026, 2, 28), "workday", "春节调休上班"),
    *_span(date(2026, 4, 4), date(2026, 4, 6), "清明节"),
    *_span(date(2026, 5, 1), date(2026, 5, 5), "劳动节"),
    (date(2026, 5, 9), "workday", "劳动节调休上班"),
    *_span(date(2026, 6, 19), date(2026, 6, 21), "端午节"),
    *_span(date(2026, 9, 25), date(2026, 9, 27), "中秋节"),
    *_span(date(2026, 10, 1), date(2026, 10, 7), "国庆节"),
    (date(2026, 9, 20), "workday", "国庆节调休上班"),
    (date(2026, 10, 10), "workday", "国庆节调休上班"),
)

Overrides = Mapping[date, str]

# A deadline never needs more than this many calendar days to find its working days (60 working days
# at most per type, plus the longest run of holidays).
_HORIZON_DAYS = 200


def is_working_day(day: date, overrides: Overrides) -> bool:
    kind = overrides.get(day)
    if kind is not None:
        return kind == "workday"
    return day.weekday() < 5


def add_working_days(start: date, n: int, overrides: Overrides) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself not counted, whatever it is)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    day, left = start, n
    while left:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            left -= 1
    return day


def working_days_between(first: date, last: date, overrides: Overrides) -> int:
    """Working days in (first, last]; 0 when ``last`` is not after ``first``."""
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            count += 1
    return count


def load(conn: psycopg.Connection[Any], first: date, last: date) -> dict[date, str]:
    """The exceptions between ``first`` and ``last`` (inclusive)."""
    rows = conn.execute("select day, kind from hub.work_calendar where day between %s and %s", (first, last)).fetchall()
    return {r[0]: str(r[1]) for r in rows}


def due_date(conn: psycopg.Connection[Any], received: date, working_days: int) -> date:
    """限时办结 deadline: the ``working_days``-th working day after the day of receipt."""
    return add_working_days(received, working_days, load(conn, received, received + timedelta(days=_HORIZON_DAYS)))


def list_days(conn: psycopg.Connection[Any], year: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "select day, kind, note, source, updated_by from hub.work_calendar where day between %s and %s order by day",
        (date(year, 1, 1), date(year, 12, 31)),
    ).fetchall()
    return [dict(zip(("day", "kind", "note", "source", "updated_by"), r, strict=True)) for r in rows]


def set_day(conn: psycopg.Connection[Any], subject: Subject, day: date, kind: str, note: str, source: str) -> None:
    """Mark ``day`` a holiday or a 调休 working day (staff who maintain the calendar). Never commits."""
    require_maintainer(subject)
    if kind not in ("holiday", "workday"):
        raise ValidationFailed("日期类型只能是“节假日”或“调休上班”")
    if not note.strip() or not source.strip():
        raise ValidationFailed("请填写说明和依据")
    conn.execute(
        "insert into hub.work_calendar (day, kind, note, source, updated_by) values (%s, %s, %s, %s, %s) "
        "on conflict (day) do update set kind = excluded.kind, note = excluded.note, source = excluded.source, "
        "updated_by = excluded.updated_by, updated_at = now()",
        (day, kind, note.strip(), source.strip(), subject.account_id),
    )
    _audit(conn, subject, "calendar.set", day)


def clear_day(conn: psycopg.Connection[Any], subject: Subject, day: date) -> bool:
    """Remove the exception of ``day`` (it follows the weekday rule again); True when one existed."""
    require_maintainer(subject)
    removed = conn.execute("delete from hub.work_calendar where day = %s", (day,)).rowcount > 0
    if removed:
        _audit(conn, subject, "calendar.clear", day)
    return removed


def _audit(conn: psycopg.Connection[Any], subject: Subject, action: str, day: date) -> None:
    audit.event(
        conn,
        action,
        "ok",
        at=datetime.now(UTC),
        actor_kind=subject.kind.value,
        actor=subject.account_id,
        target_type="calendar",
        target_id=day.isoformat(),
        purpose="declaration",
        client_id=subject.client_id,
        channel=subject.channel.value,
    )
