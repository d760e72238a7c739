"""`hub push run` as a real process: it picks up a card change from the sync events and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hub import pg
from hub.config.push import PushSettings
from hub.messaging import sealed as sms_sealed
from hub.push import watch
from sync import apply, feed
from sync.worker import FEED, SyncWorker
from tests.conftest import Databases
from tests.fixtures import core_rows

pytestmark = pytest.mark.slow


def test_worker_sends_the_card_notice_and_stops_cleanly(dbs: Databases) -> None:
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core, units=1, persons=1)
        core.execute("insert into core.ac50 values (1, '100000001', 'id1', '1', '工商银行', %s)", (date(2020, 1, 1),))
        core.commit()
    worker = SyncWorker(dbs.core_url, dbs.query_url, batch_size=100)
    worker.drain()
    with pg.connect(dbs.hub_url) as hub, pg.connect(dbs.query_url) as store:
        watch.run_round(hub, store, PushSettings(), datetime.now(UTC))  # baselines
        hub.commit()
    env = {
        **os.environ,
        "HUB_ENVIRONMENT": "test",
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
        "HUB_REDIS_URL": dbs.redis_url,
        "HUB_PUSH__POLL_SECONDS": "0.1",
    }
    proc = subprocess.Popen([str(Path(sys.executable).parent / "hub"), "push", "run"], env=env)
    try:
        with pg.connect(dbs.core_url) as core:
            core.execute("update core.ac50 set status = '3' where aac001 = 1")  # 注销
            core.commit()
        worker.drain()
        deadline = time.monotonic() + 30  # liveness bound
        with pg.connect(dbs.hub_url) as hub:
            while True:
                found = sms_sealed.messages(hub)
                row = (found[0]["template"], found[0]["personalisation"]["status"]) if found else None
                hub.commit()
                if row is not None:
                    break
                assert proc.poll() is None, "the worker exited"
                assert time.monotonic() < deadline, "no notice within 30 s"
                time.sleep(0.1)
        assert row == ("card_status", "注销")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        worker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
