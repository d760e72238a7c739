"""Typed helpers of the sms tests: settings, a worker running in a thread, counting states."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub import pg
from hub.config.sms import LimitSettings, SmppSettings, SmsSettings
from hub.messaging.outbox import Priority, enqueue
from sms.transport import Transport
from sms.worker import Worker

NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def settings(port: int = 0, **overrides: Any) -> SmsSettings:
    smpp = SmppSettings(
        port=port,
        window=overrides.pop("window", 16),
        binds=overrides.pop("binds", 1),
        rate_per_bind=overrides.pop("rate", 2000.0),
        response_timeout_seconds=overrides.pop("response_timeout", 2.0),
        enquire_link_seconds=overrides.pop("enquire_link", 5.0),
        reconnect_min_seconds=0.1,
        reconnect_max_seconds=1.0,
        throttle_pause_seconds=0.05,
    )
    limits = overrides.pop(
        "limits",
        LimitSettings(
            per_number_minute=1000, per_number_hour=1000, per_number_day=1000, per_prefix_hour=10**6, per_ip_hour=10**6
        ),
    )
    return SmsSettings(transport="smpp", smpp=smpp, limits=limits, poll_seconds=0.05, **overrides)


def enqueue_many(url: str, phones: list[str], template: str, fields: dict[str, str], **kw: Any) -> list[int]:
    with pg.connect(url) as conn:
        ids = [
            enqueue(
                conn,
                to=p,
                template=template,
                personalisation=fields,
                priority=kw.get("priority", Priority.NOTICE),
                purpose="test",
                **{k: v for k, v in kw.items() if k != "priority"},
            )
            for p in phones
        ]
        conn.commit()
    return ids


def statuses(url: str) -> dict[str, int]:
    with pg.connect(url) as conn:
        rows = conn.execute("select status, count(*) from hub.sms_message group by status").fetchall()
    return {str(s): int(str(n)) for s, n in rows}


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with pg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def wait(predicate: Callable[[], bool], timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@contextmanager
def running(
    url: str, transport: Transport, cfg: SmsSettings, clock: Callable[[], datetime] = lambda: NOON
) -> Iterator[Worker]:
    """A worker in a thread; stopped (clean unbind) when the block ends."""
    worker = Worker(url, transport, cfg, clock=clock)
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:  # reported in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(60)
        if errors:
            raise errors[0]


def settled(url: str) -> Callable[[], bool]:
    def check() -> bool:
        s = statuses(url)
        return s.get("created", 0) == 0 and s.get("queued", 0) == 0

    return check


def all_in(url: str, states: set[str]) -> Callable[[], bool]:
    def check() -> bool:
        return set(statuses(url)) <= states

    return check


__all__ = ["psycopg"]
