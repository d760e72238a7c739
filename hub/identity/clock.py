"""A movable clock: services take ``now`` from a Clock, so tests move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current UTC time (time-machine moves it in tests)."""
    return datetime.now(UTC)
