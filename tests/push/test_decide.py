"""The routing decision by hand: routes, the no-app fallback, mandatory card notices, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hub.content.inbox import MessageKind
from hub.push.decide import Decision, Preferences, Route, Urgency, decide, quiet_until

SH = ZoneInfo("Asia/Shanghai")
DEFAULT = Preferences()  # quiet 21:00–08:00


def at(hour: int, minute: int = 0, day: int = 27) -> datetime:
    """A Shanghai wall-clock time on 2026-11-<day>, as the aware UTC datetime the service uses."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SH).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(22, 30), at(8, 0, day=28)),  # after 21:00: held until 08:00 the next morning
        (at(7, 59), at(8, 0)),  # before 08:00: held until 08:00 the same day
        (at(21, 0), at(8, 0, day=28)),  # the window starts at 21:00 sharp
        (at(8, 0), None),  # and ends at 08:00 sharp
        (at(12, 0), None),
    ],
)
def test_quiet_window_crossing_midnight(now: datetime, expected: datetime | None) -> None:
    assert quiet_until(now, time(21, 0), time(8, 0), SH) == expected


def test_a_daytime_window() -> None:
    # 12:00–14:00 (a 午休 window): 13:00 waits until 14:00, 14:00 does not wait.
    assert quiet_until(at(13), time(12), time(14), SH) == at(14)
    assert quiet_until(at(14), time(12), time(14), SH) is None
    assert quiet_until(at(3), time(8), time(8), SH) is None  # start == end: no quiet hours


def test_app_user_gets_the_inbox_only() -> None:
    d = decide(DEFAULT, MessageKind.PAYMENT, Urgency.NORMAL, at(10), has_app=True, has_phone=True, tz=SH)
    assert d == Decision(app=True, sms=False, sms_at=None)


def test_without_the_app_a_payment_notice_falls_back_to_sms() -> None:
    d = decide(DEFAULT, MessageKind.PAYMENT, Urgency.NORMAL, at(10), has_app=False, has_phone=True, tz=SH)
    assert d == Decision(app=False, sms=True, sms_at=at(10))


def test_news_never_falls_back_to_sms() -> None:
    d = decide(DEFAULT, MessageKind.POLICY, Urgency.NORMAL, at(10), has_app=False, has_phone=True, tz=SH)
    assert d == Decision(app=False, sms=False, sms_at=None)


def test_card_notices_always_send_sms_even_when_turned_off() -> None:
    off = Preferences({MessageKind.CARD: Route.NONE})
    d = decide(off, MessageKind.CARD, Urgency.URGENT, at(23), has_app=True, has_phone=True, tz=SH)
    assert d == Decision(app=False, sms=True, sms_at=at(23))  # urgent: not held at night


def test_quiet_hours_hold_normal_sms_and_never_the_inbox() -> None:
    both = Preferences({MessageKind.BUSINESS: Route.BOTH})
    d = decide(both, MessageKind.BUSINESS, Urgency.NORMAL, at(23), has_app=True, has_phone=True, tz=SH)
    assert d == Decision(app=True, sms=True, sms_at=at(8, 0, day=28))


def test_no_phone_no_sms() -> None:
    d = decide(DEFAULT, MessageKind.CARD, Urgency.URGENT, at(10), has_app=False, has_phone=False, tz=SH)
    assert d == Decision(app=False, sms=False, sms_at=None)


def test_a_person_who_wants_sms_only() -> None:
    sms_only = Preferences({MessageKind.BUSINESS: Route.SMS})
    d = decide(sms_only, MessageKind.BUSINESS, Urgency.NORMAL, at(10), has_app=True, has_phone=True, tz=SH)
    assert d == Decision(app=False, sms=True, sms_at=at(10))
