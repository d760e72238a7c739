"""The send-or-retry step and the worker loop of the outboxes that send commands to the core's API.

Two outboxes post to the same idempotent command API: approved declarations (``hub.declarations.outbox``)
and person requests (``hub.persons.requests_outbox``). Both follow one policy: a transport failure or a
5xx is retried with doubling, capped, jittered delays and never given up (the core may have applied the
command, and only its answer may end it); a 4xx means the request itself is refused, so it is recorded
as failed with a reason the person or unit can read; a failing round is logged by the error's kind only
(values may be personal) and retried after the minimum delay.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class TransportError(Exception):
    """No usable answer (connection refused, timeout, 5xx): retry later."""


class Refused(Exception):
    """The command API refused the request itself (4xx): retrying the same request cannot help."""


@dataclass(frozen=True)
class Reply:
    status: str  # applied | failed
    reason: str | None
    result: dict[str, Any]
    position: str | None
    replayed: bool


class RetrySettings(Protocol):
    """The delays an outbox worker waits (``HUB_DECLARATIONS__…``)."""

    @property
    def backoff_min_seconds(self) -> float: ...

    @property
    def backoff_max_seconds(self) -> float: ...

    @property
    def idle_wait_seconds(self) -> float: ...


def backoff(settings: RetrySettings, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: doubling from the minimum, capped, with
    up to 25 % jitter downwards so that commands failed together do not retry together."""
    exponent = min(max(attempts - 1, 0), 30)
    delay: float = min(settings.backoff_max_seconds, settings.backoff_min_seconds * float(2**exponent))
    return delay * random.uniform(0.75, 1.0)


def send_or_retry(
    send: Callable[[], Reply],
    *,
    settings: RetrySettings,
    attempts: int,
    retry_later: Callable[[float, str], None],
    what: str,
    refused_reason: str,
) -> Reply | None:
    """Send once. The core's answer; a ``failed`` reply with ``refused_reason`` when the API refuses the
    request; None after a transport failure, once ``retry_later(delay, error)`` has rescheduled it.

    ``what`` names the item in the logs (``command <id>``, ``person request <id>``): never a value."""
    try:
        return send()
    except TransportError as exc:
        delay = backoff(settings, attempts)
        log.warning("%s attempt %d failed (%s); retry in %.1f s", what, attempts, exc, delay)
        retry_later(delay, str(exc))
        return None
    except Refused as exc:
        log.error("%s refused by the core API: %s", what, exc)
        return Reply("failed", refused_reason, {}, None, False)


def run_rounds(
    step: Callable[[], int], close: Callable[[], None], stop: threading.Event, settings: RetrySettings, name: str
) -> None:
    """Run ``step`` (a round; returns how many items it claimed) until ``stop`` is set, waiting when idle.

    A database or network fault ends the round: it is logged by kind, the connections are closed and the
    next round comes after the minimum delay."""
    log.info("%s started", name)
    while not stop.is_set():
        try:
            busy = step()
        except Exception as exc:  # an outage or a bug: report the kind only (values may be personal), retry
            log.error("%s round failed: %s", name, type(exc).__name__)
            close()
            stop.wait(settings.backoff_min_seconds)
            busy = 0
        if not busy:
            stop.wait(settings.idle_wait_seconds)
    close()
    log.info("%s stopped", name)


def wait_idle(step: Callable[[], int], timeout: float = 10.0) -> None:
    """Run rounds until nothing is due or ``timeout`` seconds have passed (tests and the demo)."""
    deadline = time.monotonic() + timeout
    while step() and time.monotonic() < deadline:
        pass
