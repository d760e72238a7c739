"""The push worker loop: one transaction per round (watch the sync events, release held SMS)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import psycopg

from hub import pg
from hub.config.push import PushSettings
from hub.push import service, watch

log = logging.getLogger("hub.push")


def run(hub_url: str, query_url: str, settings: PushSettings, stop: threading.Event) -> None:
    """Until ``stop`` is set; a database that restarts is reconnected after a pause. Safe to kill anywhere."""
    while not stop.is_set():
        try:
            with pg.connect(hub_url) as hub, pg.connect(query_url) as store:
                while not stop.is_set():
                    now = datetime.now(UTC)
                    events, sent = watch.run_round(hub, store, settings, now)
                    released = service.release_due(hub, now)
                    hub.commit()
                    if sent or released:
                        log.info("push: %d events, %d notices, %d held SMS released", events, sent, released)
                    if events < settings.batch:
                        stop.wait(settings.poll_seconds)
        except psycopg.OperationalError as exc:
            log.warning("push: database unavailable (%s); retrying", type(exc).__name__)
            stop.wait(5)
