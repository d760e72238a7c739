"""The daily 待遇资格认证 reminders of `hub push run` on a movable clock: nothing before the configured local
hour, one run a day from it, and neither a restart at the hour nor a second worker sends anything twice.

The hub database is a fresh clone per test (its certifications and notices are this test's only); the persons
and the dated certification parameters are those of the seeded province's query store (12 months valid,
reminder 30 days before the end, core/seed_data.py).
"""

from __future__ import annotations

import threading
import time
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from hub import pg
from hub.config.push import PushSettings
from hub.persons import eligibility
from hub.persons.eligibility import CheckResult
from hub.push import worker
from tests.api import conftest as api_conftest
from tests.api.conftest import Province
from tests.fixtures.servers import Servers
from tests.person_services import kit

pytestmark = pytest.mark.slow
province = api_conftest.province  # the seeded province (a session fixture)

SETTINGS = PushSettings(poll_seconds=0.05, certification_hour=9)
LIVENESS = 30.0  # seconds; a bound on the wait, not a speed check


class MovableClock:
    """The workers' clock: set by the test; counts the rounds that read it."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.reads += 1
            return self.at

    def rounds_after(self, n: int) -> None:
        """Wait until ``n`` more rounds have read the clock (so at least ``n - 1`` committed after the set)."""
        target = self.reads + n
        deadline = time.monotonic() + LIVENESS
        while self.reads < target:
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.02)


class PassingCheckForTests:
    """An identity check for tests only: every certification passes."""

    provider = "check-for-tests"

    def verify(self, person_id: int, evidence: bytes) -> CheckResult:
        return CheckResult(True, f"T{person_id}")


class Workers:
    def __init__(self, hub_url: str, query_url: str, clock: MovableClock) -> None:
        self.hub_url, self.query_url, self.clock = hub_url, query_url, clock
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, count: int = 1) -> None:
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(
                target=worker.run, args=(self.hub_url, self.query_url, SETTINGS, self.stop, self.clock), daemon=True
            )
            for _ in range(count)
        ]
        for t in self.threads:
            t.start()

    def halt(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=LIVENESS)
            assert not t.is_alive(), "the worker did not stop"


@pytest.fixture
def hub_url(servers: Servers, templates: dict[str, str]) -> Iterator[str]:
    name = f"t_hub_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.libpq(servers.pg_url("postgres")), autocommit=True) as admin:
        admin.execute(f'create database "{name}" template "{templates["hub"]}"')
    yield servers.pg_url(name)
    pg.drop_database(servers.pg_url(name))


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` on ``day`` in Shanghai as a UTC instant (09:00 there is 01:00 UTC)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def certify(hub_url: str, province: Province, person_id: int, on: date) -> None:
    with pg.connect(hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        eligibility.certify_with_check(
            hub, store, kit.person(person_id), PassingCheckForTests(), b"x", shanghai(on, 10)
        )
        hub.commit()


def reminders(hub_url: str) -> list[str]:
    with pg.connect(hub_url) as hub:
        rows = hub.execute(
            "select source_key from hub.push_notice where source_key like 'eligibility:%%' order by source_key"
        ).fetchall()
    return [str(r[0]) for r in rows]


def marked_day(hub_url: str) -> int | None:
    with pg.connect(hub_url) as hub:
        row = hub.execute(
            "select last_event_id from hub.push_cursor where name = %s", (worker.REMINDER_DAY,)
        ).fetchone()
    return None if row is None else typing.cast(int, row[0])  # last_event_id: bigint


def test_reminders_run_once_a_day_from_the_configured_hour(hub_url: str, province: Province) -> None:
    r1, r2 = (r.person_id for r in kit.retirees(province)[:2])
    # R1 certified 2030-06-20 (12 months): due 2031-06-20; the reminder window opens 30 days earlier, on
    # 2031-05-21 (20 days back to 31 May, 10 more), so on 2031-06-10 R1 is to be reminded. Every other
    # retiree of the fresh hub database counts from a retirement before 2030: suspended long before 2031.
    certify(hub_url, province, r1, date(2030, 6, 20))
    day1, day2 = date(2031, 6, 10), date(2031, 6, 11)
    clock = MovableClock(shanghai(day1, 8, 59))
    workers = Workers(hub_url, province.query_url, clock)

    # 08:59 in Shanghai: the hour has not come.
    workers.start()
    clock.rounds_after(3)
    assert reminders(hub_url) == [] and marked_day(hub_url) is None

    # 09:00: two workers at once (one still running, one more started): R1 reminded once, the day marked.
    clock.at = shanghai(day1, 9)
    workers.halt()
    workers.start(count=2)
    clock.rounds_after(6)
    assert reminders(hub_url) == [f"eligibility:{r1}:2031-06-20"]
    assert marked_day(hub_url) == 20310610
    workers.halt()

    # R2 certified 2030-06-25: due 2031-06-25, window from 2031-05-26 — due for a reminder as well, but the
    # day's run is done: a worker restarted at 09:30 the same day runs nothing.
    certify(hub_url, province, r2, date(2030, 6, 25))
    clock.at = shanghai(day1, 9, 30)
    workers.start()
    clock.rounds_after(3)
    assert reminders(hub_url) == [f"eligibility:{r1}:2031-06-20"]

    # The next day at 09:00: R2 is reminded; R1, same cycle, is not reminded again.
    clock.at = shanghai(day2, 9)
    clock.rounds_after(3)
    workers.halt()
    assert reminders(hub_url) == sorted([f"eligibility:{r1}:2031-06-20", f"eligibility:{r2}:2031-06-25"])
    assert marked_day(hub_url) == 20310611
    with pg.connect(hub_url) as hub:
        sms = hub.execute("select count(*) from hub.sms_message where template = 'eligibility_reminder'").fetchone()
        linked = hub.execute(
            "select count(*) from hub.push_notice where source_key like 'eligibility:%%' and sms_message_id is not null"
        ).fetchone()
    # one SMS per notice at most, none duplicated (count(): bigint)
    assert sms is not None and sms == linked and typing.cast(int, sms[0]) <= 2
