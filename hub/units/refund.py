"""The 退收 estimate of a 人员停保 (减员), read from the query store before the declaration is submitted.

The core reverses (退收, AAA115 21) every month planned after the stop month, paid or not
(``core.service.stop``); the estimate sums, per later period, the net unit and personal amounts the
unit holds for the person in ``contribution_month`` (earlier 退收 rows net out, so a month reversed
already counts nothing), and of that what has been paid (a refund due to the unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from hub.rules.period import Period


@dataclass(frozen=True)
class Refund:
    """The 退收 a stop causes: planned months after the stop month, net of what was reversed already."""

    months: int
    total: Decimal
    paid: Decimal  # of which already paid (a refund due to the unit)


def estimate(query: psycopg.Connection[Any], unit_id: int, person_id: int, stop: date) -> Refund:
    """The months after ``stop``'s month with a positive net amount, their total and the paid part."""
    rows = query.execute(
        "select period, sum(unit_amount + personal_amount), sum(case when paid then unit_amount + personal_amount "
        "else 0 end) from contribution_month where unit_id = %s and person_id = %s and period > %s "
        "group by period having sum(unit_amount + personal_amount) > 0",
        (unit_id, person_id, int(Period.of(stop))),
    ).fetchall()
    return Refund(
        len(rows), sum((Decimal(r[1]) for r in rows), Decimal(0)), sum((Decimal(r[2]) for r in rows), Decimal(0))
    )
