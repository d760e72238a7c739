"""Deadline reminders (申报截止提醒): an SMS to each unit contact whose annual wage declaration for the
current window is not yet submitted, a few days before the window closes; once per unit per window.

The window of the annual wage declaration (年度缴费工资申报) is a provincial parameter (DOMAIN.md §1,
annual cycle): two dated rows of the region's ``ya_param`` in the query store, ``WAGE_DECL_START`` and
``WAGE_DECL_END``, each a month and day (``MM-DD``) in force from its ``valid_from``; the window of year
Y runs from Y-start to Y-end inclusive (Asia/Shanghai). A region without both rows has no window and is
reported, not guessed. A declaration counts once it has been submitted (submitted, approved, sent,
applied); a draft, a withdrawn, rejected or returned one does not.

Idempotent: ``hub.unit_reminder`` has one row per (unit, kind, window), written in the same transaction
as the outbox message, so running the command twice, or concurrently, sends nothing twice. The SMS
names neither the unit nor a person.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg

from hub.crypto import columns as sealed
from hub.messaging import outbox

log = logging.getLogger(__name__)

KIND = "annual_wage"
TEMPLATE = "wage_declaration_reminder"
START, END = "WAGE_DECL_START", "WAGE_DECL_END"
COUNTED = ("submitted", "approved", "sent", "applied")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class Window:
    region_code: str
    year: int
    start: date
    end: date

    @property
    def key(self) -> str:
        return f"{self.year}:{self.start.isoformat()}:{self.end.isoformat()}"


@dataclass
class RemindResult:
    queued: int = 0
    already_reminded: int = 0
    submitted: int = 0
    no_mobile: int = 0
    windows: list[Window] = field(default_factory=list)
    regions_without_window: list[str] = field(default_factory=list)


def _in_force(rows: list[tuple[str, str, str]], code: str, today: date) -> str | None:
    """The value of ``code`` with the latest ``valid_from`` on or before ``today``."""
    dated = sorted((vf, v) for c, vf, v in rows if c == code and date.fromisoformat(vf[:10]) <= today)
    return dated[-1][1] if dated else None


def _month_day(value: str, year: int) -> date | None:
    found = _MONTH_DAY.match(value.strip())
    if not found:
        return None
    try:
        return date(year, int(found.group(1)), int(found.group(2)))
    except ValueError:
        return None


def windows(query: psycopg.Connection[Any], today: date) -> tuple[list[Window], list[str]]:
    """The wage-declaration window of ``today``'s year in each region, and the regions without one."""
    regions = [
        str(r[0])
        for r in query.execute(
            "select distinct region_code from unit_overview where region_code is not null order by 1"
        ).fetchall()
    ]
    params = query.execute(
        "select region_code, value->>'code', value->>'valid_from', value->>'value' from region_parameter "
        "where kind = 'ya_param' and value->>'code' in (%s, %s)",
        (START, END),
    ).fetchall()
    by_region: dict[str, list[tuple[str, str, str]]] = {}
    for region, code, valid_from, value in params:
        by_region.setdefault(str(region), []).append((str(code), str(valid_from), str(value)))
    found: list[Window] = []
    missing: list[str] = []
    for region in regions:
        rows = by_region.get(region, [])
        start_text, end_text = _in_force(rows, START, today), _in_force(rows, END, today)
        start = _month_day(start_text, today.year) if start_text else None
        end = _month_day(end_text, today.year) if end_text else None
        if start is None or end is None or end < start:
            missing.append(region)
        else:
            found.append(Window(region, today.year, start, end))
    return found, missing


def remind(
    hub: psycopg.Connection[Any], query: psycopg.Connection[Any], *, days: int, today: date, now: datetime
) -> RemindResult:
    """Queue the reminders due on ``today`` (the window closes within ``days`` days, today included).

    Never commits: the caller commits once (the reminder rows and the messages together).
    """
    if days < 0:
        raise ValueError("days must not be negative")
    result = RemindResult()
    found, result.regions_without_window = windows(query, today)
    for window in found:
        if not (window.start <= today <= window.end and (window.end - today).days <= days):
            continue
        result.windows.append(window)
        units = sealed.open_column(
            query,
            sealed.UNIT_CONTACT_PHONE,
            query.execute(
                "select unit_id, contact_phone_enc from unit_overview where region_code = %s "
                "and coalesce(status, '1') = '1' order by unit_id",
                (window.region_code,),
            ).fetchall(),
            key_at=0,
            value_at=1,
        )
        done = {
            int(r[0])
            for r in hub.execute(
                "select distinct unit_id from hub.declaration where type = 'annual_wage' and region_code = %s "
                "and status = any(%s) and coalesce(summary, payload)->>'year' = %s",  # payload: not sealed yet
                (window.region_code, list(COUNTED), str(window.year)),
            ).fetchall()
        }
        deadline = f"{window.end.month}月{window.end.day}日"
        for unit_id, phone in units:
            if int(unit_id) in done:
                result.submitted += 1
                continue
            if phone is None or not _MOBILE.match(str(phone)):
                result.no_mobile += 1
                continue
            claimed = hub.execute(
                "insert into hub.unit_reminder (unit_id, kind, window_key, sent_at) values (%s, %s, %s, %s) "
                "on conflict do nothing returning unit_id",
                (int(unit_id), KIND, window.key, now),
            ).fetchone()
            if claimed is None:
                result.already_reminded += 1
                continue
            message_id = outbox.enqueue(
                hub,
                to=str(phone),
                template=TEMPLATE,
                personalisation={"year": str(window.year), "deadline": deadline},
                priority=outbox.Priority.NOTICE,
                purpose="unit_reminder",
                reference=f"{KIND}:{window.key}:{unit_id}",
            )
            hub.execute(
                "update hub.unit_reminder set message_id = %s where unit_id = %s and kind = %s and window_key = %s",
                (message_id, int(unit_id), KIND, window.key),
            )
            result.queued += 1
    log.info(
        "wage declaration reminders: %d queued, %d already reminded, %d submitted",
        result.queued,
        result.already_reminded,
        result.submitted,
    )
    return result
