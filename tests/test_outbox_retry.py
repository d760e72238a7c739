"""The outboxes' shared send-or-retry step and loop (``hub.outbox_retry``), without a network."""

from __future__ import annotations

import logging
import threading

import pytest

from hub.declarations.config import DeclarationSettings
from hub.outbox_retry import Refused, Reply, TransportError, run_rounds, send_or_retry

SETTINGS = DeclarationSettings(backoff_min_seconds=2.0, backoff_max_seconds=60.0, idle_wait_seconds=0.01)
APPLIED = Reply("applied", None, {"aae072": "1"}, "0/1A", False)


def _send(outcome: Reply | Exception) -> Reply:
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _step(outcome: Reply | Exception, attempts: int) -> tuple[Reply | None, list[tuple[float, str]]]:
    later: list[tuple[float, str]] = []
    reply = send_or_retry(
        lambda: _send(outcome),
        settings=SETTINGS,
        attempts=attempts,
        retry_later=lambda delay, error: later.append((delay, error)),
        what="command c-1",
        refused_reason="核心系统拒绝了该指令，请联系经办机构",
    )
    return reply, later


def test_an_answer_is_passed_on_untouched() -> None:
    assert _step(APPLIED, 1) == (APPLIED, [])


def test_a_transport_failure_is_rescheduled_after_the_doubled_delay() -> None:
    # The 4th attempt failed: 2 s doubled three times is 16 s, less up to 25 % jitter.
    reply, later = _step(TransportError("HTTP 503"), 4)
    assert reply is None
    assert len(later) == 1 and later[0][1] == "HTTP 503"
    assert 12.0 <= later[0][0] <= 16.0
    # The 9th: 2 × 2^8 = 512 s, capped at 60 s.
    assert 45.0 <= _step(TransportError("timeout"), 9)[1][0][0] <= 60.0


def test_a_refused_request_becomes_a_failed_answer_and_is_not_retried() -> None:
    reply, later = _step(Refused("HTTP 400"), 1)
    assert later == []
    assert reply == Reply("failed", "核心系统拒绝了该指令，请联系经办机构", {}, None, False)


def test_the_loop_survives_a_failing_round_and_closes_on_stop(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    rounds: list[int] = []
    closed: list[int] = []

    def step() -> int:
        rounds.append(1)
        if len(rounds) == 1:
            raise ConnectionError("13800138000 unreachable")  # the kind is logged, never the value
        if len(rounds) == 3:
            stop.set()
        return 0

    fast = DeclarationSettings(backoff_min_seconds=0.01, idle_wait_seconds=0.01)
    with caplog.at_level(logging.INFO, logger="hub.outbox_retry"):
        run_rounds(step, lambda: closed.append(1), stop, fast, "test outbox")
    assert len(rounds) == 3
    assert len(closed) == 2  # after the failed round, and at the end
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["test outbox started", "test outbox round failed: ConnectionError", "test outbox stopped"]
