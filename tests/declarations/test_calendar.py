"""限时办结 in working days on the 2026 arrangement of the State Council (国务院办公厅, 2025-11-04)."""

from __future__ import annotations

from datetime import date

import pytest

from hub import pg
from hub.access.subject import StaffRole
from hub.declarations import calendar as cal
from hub.declarations.access import NotPermitted
from hub.errors import ValidationFailed
from tests.conftest import Databases
from tests.declarations import kit


def test_weekdays_only_without_exceptions() -> None:
    # Fri 2025-03-07 + 1 working day → Mon 03-10 (Sat and Sun skipped); + 5 → Fri 03-14
    assert cal.add_working_days(date(2025, 3, 7), 1, {}) == date(2025, 3, 10)
    assert cal.add_working_days(date(2025, 3, 7), 5, {}) == date(2025, 3, 14)
    assert cal.working_days_between(date(2025, 3, 7), date(2025, 3, 14), {}) == 5


def test_spring_festival_2026_by_hand(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        # Received Thu 2026-02-12, 5 working days:
        #   Fri 02-13 → 1; Sat 02-14 is a 调休 working day → 2; Sun 02-15 … Mon 02-23 春节 holiday;
        #   Tue 02-24 → 3; Wed 02-25 → 4; Thu 02-26 → 5.
        assert cal.due_date(conn, date(2026, 2, 12), 5) == date(2026, 2, 26)
        # Received Wed 2026-09-30, 3 working days: 10-01 … 10-07 国庆 holiday; Thu 10-08 → 1; Fri 10-09 → 2;
        # Sat 10-10 is a 调休 working day → 3.
        assert cal.due_date(conn, date(2026, 9, 30), 3) == date(2026, 10, 10)
        # Received Fri 2026-09-18, 1 working day: Sat 09-19 rest; Sun 09-20 调休 working day → 1.
        assert cal.due_date(conn, date(2026, 9, 18), 1) == date(2026, 9, 20)
        # 元旦: received Wed 2025-12-31, 2 working days: 01-01 … 01-03 holiday; Sun 01-04 调休 → 1; Mon 01-05 → 2.
        assert cal.due_date(conn, date(2025, 12, 31), 2) == date(2026, 1, 5)
        seeded = cal.list_days(conn, 2026)
        workdays = [d["day"] for d in seeded if d["kind"] == "workday"]
        assert workdays == [date(2026, m, d) for m, d in ((1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10))]
        assert all("国务院办公厅" in d["source"] for d in seeded)


def test_staff_maintain_the_calendar(dbs: Databases) -> None:
    clerk = kit.staff("ops-1", StaffRole.OPERATOR)
    with pg.connect(dbs.hub_url) as conn:
        # Without an exception, Fri 2026-03-06 + 1 → Mon 03-09.
        assert cal.due_date(conn, date(2026, 3, 6), 1) == date(2026, 3, 9)
        cal.set_day(conn, clerk, date(2026, 3, 9), "holiday", "临时放假", "省政府通知")
        # Mon 03-09 now a holiday → Tue 03-10.
        assert cal.due_date(conn, date(2026, 3, 6), 1) == date(2026, 3, 10)
        cal.set_day(conn, clerk, date(2026, 3, 7), "workday", "补班", "省政府通知")
        # Sat 03-07 now a working day → 03-07 itself.
        assert cal.due_date(conn, date(2026, 3, 6), 1) == date(2026, 3, 7)
        assert cal.clear_day(conn, clerk, date(2026, 3, 7)) is True
        assert cal.due_date(conn, date(2026, 3, 6), 1) == date(2026, 3, 10)
        audited = conn.execute("select count(*) from hub.audit_log where action like 'calendar.%'").fetchone()
        assert audited == (3,)
        with pytest.raises(ValidationFailed):
            cal.set_day(conn, clerk, date(2026, 3, 8), "weekend", "x", "y")
        with pytest.raises(NotPermitted):
            cal.set_day(conn, kit.unit_operator(1), date(2026, 3, 8), "holiday", "x", "y")
        with pytest.raises(NotPermitted):
            cal.set_day(conn, kit.staff("aud", StaffRole.AUDITOR), date(2026, 3, 8), "holiday", "x", "y")
