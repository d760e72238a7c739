"""The push worker loop: one transaction per round (watch the sync events, release held SMS, and once a day
the 待遇资格认证 reminders)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from hub import pg
from hub.config.push import PushSettings
from hub.persons import eligibility, objection_feed
from hub.push import service, watch

log = logging.getLogger("hub.push")

# The last local day (yyyymmdd) the daily reminders ran, kept as a row of the push cursors.
REMINDER_DAY = "eligibility-reminder-day"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def daily_reminders(
    hub: psycopg.Connection[Any], store: psycopg.Connection[Any], settings: PushSettings, now: datetime
) -> eligibility.ReminderRun | None:
    """The day's 待遇资格认证 reminders when the local hour has come and no worker ran them today, else None.

    The day is marked in the same transaction as the notices, under a row lock: a worker that restarts at
    the hour, or a second worker, finds the day done (the second waits for the first to commit). A crash
    before the commit loses the mark and the notices together; the next run sends them once (each notice
    is also unique per person and cycle). Never commits.
    """
    local = now.astimezone(ZoneInfo(settings.timezone))
    if local.hour < settings.certification_hour:
        return None
    today = int(local.strftime("%Y%m%d"))
    row = hub.execute("select last_event_id from hub.push_cursor where name = %s", (REMINDER_DAY,)).fetchone()
    if row is not None and int(row[0]) >= today:
        return None
    hub.execute(
        "insert into hub.push_cursor (name, last_event_id) values (%s, 0) on conflict do nothing", (REMINDER_DAY,)
    )
    row = hub.execute(
        "select last_event_id from hub.push_cursor where name = %s for update", (REMINDER_DAY,)
    ).fetchone()
    assert row is not None
    if int(row[0]) >= today:
        return None  # another worker ran them while this one waited for the lock
    run = eligibility.send_reminders(hub, store, settings, now)
    store.commit()
    hub.execute("update hub.push_cursor set last_event_id = %s where name = %s", (today, REMINDER_DAY))
    return run


def run(
    hub_url: str,
    query_url: str,
    settings: PushSettings,
    stop: threading.Event,
    clock: Callable[[], datetime] = _utc_now,
) -> None:
    """Until ``stop`` is set; a database that restarts is reconnected after a pause. Safe to kill anywhere."""
    while not stop.is_set():
        try:
            with pg.connect(hub_url) as hub, pg.connect(query_url) as store:
                while not stop.is_set():
                    now = clock()
                    events, sent = watch.run_round(hub, store, settings, now)
                    fixed = objection_feed.run_round(hub, store, settings, now)  # 权益记录核查 已更正
                    released = service.release_due(hub, now)
                    reminded = daily_reminders(hub, store, settings, now)
                    hub.commit()
                    if sent or released or fixed.corrected:
                        log.info(
                            "push: %d events, %d notices, %d held SMS released, %d objections corrected",
                            events,
                            sent,
                            released,
                            fixed.corrected,
                        )
                    if reminded is not None:
                        log.info(
                            "push: certification reminders: %d sent, %d already sent, %d not due",
                            reminded.sent,
                            reminded.already,
                            reminded.not_due,
                        )
                    if events < settings.batch and fixed.events < settings.batch:
                        stop.wait(settings.poll_seconds)
        except psycopg.OperationalError as exc:
            log.warning("push: database unavailable (%s); retrying", type(exc).__name__)
            stop.wait(5)
