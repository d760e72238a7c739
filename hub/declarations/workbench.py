"""The agency workbench: the review queue, overdue alerts, the detail with its changes, statistics.

Staff (agency operators and reviewers) see the declarations of their own 统筹区 only. Deadlines are
限时办结 dates in working days (``calendar``); a submission is overdue once its due date has passed
without a decision.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from hub.access.subject import Subject
from hub.declarations import access, records, review
from hub.declarations import calendar as cal
from hub.declarations.records import Declaration
from hub.declarations.service import local_day
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType
from hub.errors import NotFound, ValidationFailed

DECISIONS = ("approve", "reject", "return")


@dataclass(frozen=True)
class QueueItem:
    declaration: Declaration
    overdue: bool
    working_days_left: int  # negative when overdue: working days past the due date


def _regions(subject: Subject, region: str | None) -> list[str]:
    access.require_staff_reader(subject)
    if region is None:
        return sorted(subject.region_codes)
    return [region] if region in subject.region_codes else []


def _left(due: date | None, today: date, overrides: cal.Overrides) -> int:
    if due is None:
        return 0
    if due >= today:
        return cal.working_days_between(today, due, overrides)
    return -cal.working_days_between(due, today, overrides)


def queue(
    conn: psycopg.Connection[Any],
    subject: Subject,
    today: date,
    *,
    type_: DeclarationType | None = None,
    region: str | None = None,
    due_by: date | None = None,
    holder: str | None = None,
    overdue_only: bool = False,
    limit: int = 100,
) -> list[QueueItem]:
    """Submissions awaiting a decision, earliest deadline first.

    Filters: type, 统筹区 (one of the caller's), due on or before ``due_by``, ``holder`` ("unclaimed",
    "mine" or a reviewer's account id), only overdue ones.
    """
    regions = _regions(subject, region)
    if holder == "mine":
        holder = subject.account_id
    rows = records.select(
        conn,
        "status = 'submitted' and region_code = any(%(r)s) and (%(t)s::text is null or type = %(t)s) "
        "and (%(d)s::date is null or due_date <= %(d)s) and (not %(o)s or due_date < %(today)s) "
        "and (%(h)s::text is null or (%(h)s = 'unclaimed' and claimed_by is null) or claimed_by = %(h)s)",
        {
            "r": regions,
            "t": type_.value if type_ else None,
            "d": due_by,
            "o": overdue_only,
            "today": today,
            "h": holder,
        },
        order="due_date, id",
        limit=max(1, min(limit, 1000)),
    )
    if not rows:
        return []
    first = min([today, *(r.due_date for r in rows if r.due_date)])
    last = max([today, *(r.due_date for r in rows if r.due_date)])
    overrides = cal.load(conn, first, last)
    return [
        QueueItem(r, r.due_date is not None and r.due_date < today, _left(r.due_date, today, overrides)) for r in rows
    ]


def overdue(
    conn: psycopg.Connection[Any], subject: Subject, today: date, *, region: str | None = None
) -> list[QueueItem]:
    """Overdue alerts: submissions past their 限时办结 date without a decision."""
    return queue(conn, subject, today, region=region, overdue_only=True, limit=1000)


@dataclass(frozen=True)
class Detail:
    declaration: Declaration
    assessment: review.Assessment


def detail(
    conn: psycopg.Connection[Any],
    query: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    today: date,
    *,
    wage_change_ratio: Decimal = review.WAGE_CHANGE_FLAG_RATIO,
) -> Detail:
    """A declaration with exactly what it changes against the current record, and its review flags."""
    access.require_staff_reader(subject)
    decl = records.fetch(conn, declaration_id)
    if decl is None or not access.may_see(subject, decl.unit_id, decl.region_code):
        raise NotFound()
    return Detail(
        decl, review.assess(query, decl.type, decl.unit_id, decl.payload, today, wage_change_ratio=wage_change_ratio)
    )


@dataclass
class Counts:
    received: int = 0
    finished: int = 0
    approved: int = 0
    rejected: int = 0
    returned: int = 0
    finished_late: int = 0
    open_overdue: int = 0

    @property
    def overdue(self) -> int:
        return self.finished_late + self.open_overdue


@dataclass
class Statistics:
    first: date
    last: date
    total: Counts = field(default_factory=Counts)
    by_type: dict[DeclarationType, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_reviewer: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))


def statistics(
    conn: psycopg.Connection[Any],
    subject: Subject,
    first: date,
    last: date,
    today: date,
    *,
    region: str | None = None,
) -> Statistics:
    """Received, finished (approved, rejected, returned), overdue (finished late or still open past due)
    between ``first`` and ``last`` (business days, inclusive), by type and by reviewer."""
    if last < first:
        raise ValidationFailed("统计结束日期不能早于开始日期")
    regions = _regions(subject, region)
    stats = Statistics(first, last)
    window = {"r": regions, "f": first, "l": last + timedelta(days=1)}
    received = conn.execute(
        "select d.type, count(distinct d.id) from hub.declaration_event e "
        "join hub.declaration d on d.id = e.declaration_id where d.region_code = any(%(r)s) "
        "and e.action = 'submit' and (e.from_status is null or e.from_status = 'draft') "
        "and e.at >= (%(f)s::timestamp at time zone 'Asia/Shanghai') "
        "and e.at < (%(l)s::timestamp at time zone 'Asia/Shanghai') group by d.type",
        window,
    ).fetchall()
    for type_, n in received:
        stats.by_type[DeclarationType(type_)].received += int(n)
        stats.total.received += int(n)
    decided = conn.execute(
        "select d.type, e.actor, e.action, (e.at at time zone 'Asia/Shanghai')::date > d.due_date "
        "from hub.declaration_event e join hub.declaration d on d.id = e.declaration_id "
        "where d.region_code = any(%(r)s) and e.action = any(%(a)s) "
        "and e.at >= (%(f)s::timestamp at time zone 'Asia/Shanghai') "
        "and e.at < (%(l)s::timestamp at time zone 'Asia/Shanghai')",
        {**window, "a": list(DECISIONS)},
    ).fetchall()
    for type_, actor, action, late in decided:
        for counts in (stats.total, stats.by_type[DeclarationType(type_)], stats.by_reviewer[str(actor)]):
            counts.finished += 1
            if action == "approve":
                counts.approved += 1
            elif action == "reject":
                counts.rejected += 1
            else:
                counts.returned += 1
            if late:
                counts.finished_late += 1
    open_rows = conn.execute(
        "select type, claimed_by, count(*) from hub.declaration where status = %s and region_code = any(%s) "
        "and due_date < %s group by type, claimed_by",
        (Status.SUBMITTED.value, regions, today),
    ).fetchall()
    for type_, holder, n in open_rows:
        stats.total.open_overdue += int(n)
        stats.by_type[DeclarationType(type_)].open_overdue += int(n)
        if holder:
            stats.by_reviewer[str(holder)].open_overdue += int(n)
    return stats


__all__ = ["Counts", "Detail", "QueueItem", "Statistics", "detail", "local_day", "overdue", "queue", "statistics"]
