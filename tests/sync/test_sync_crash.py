"""Crash safety: SIGKILL the sync worker at random moments during a burst of core changes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hub import pg
from sync import apply, feed
from sync.worker import FEED
from tests.conftest import Databases
from tests.sync import crashkit


@pytest.mark.slow
def test_kills_during_a_burst_lose_and_repeat_nothing(dbs: Databases) -> None:
    crashkit.seed_minimal(dbs.core_url)
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    burst = crashkit.Burst(dbs.core_url, target=5000)
    burst.start()
    log = crashkit.kill_loop(dbs.core_url, dbs.query_url, burst, min_kills=5, min_mid_batch=2, batch_size=50)
    burst.join(60)
    assert burst.done and burst.written >= 5000
    assert log.kills >= 5
    # some kills must have landed inside a batch, or the test proved nothing about atomicity
    assert log.mid_batch >= 2, log
    print(f"kills={log.kills} mid_batch={log.mid_batch} changes={burst.written}")

    worker = crashkit.start_worker(dbs.core_url, dbs.query_url, batch_size=50)
    try:
        deadline = time.monotonic() + 120
        with pg.connect(dbs.core_url, autocommit=True) as core, pg.connect(dbs.query_url) as store:
            while True:
                cp = apply.load_checkpoint(store, FEED)
                store.rollback()
                assert cp is not None
                if feed.pending(core, cp)[0] == 0:
                    break
                assert time.monotonic() < deadline, "the worker did not catch up"
                time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)

    env_cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "sync", "verify"]
    env = dict(os.environ, HUB_CORE_DB_URL=dbs.core_url, HUB_HUB_DB_URL=dbs.core_url, HUB_QUERY_DB_URL=dbs.query_url)
    result = subprocess.run(env_cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    with pg.connect(dbs.query_url) as store:
        dup = store.execute(
            "select count(*) from (select batch_no, subject_type, subject_id from sync_event "
            "group by 1, 2, 3 having count(*) > 1) d"
        ).fetchone()
        assert dup == (0,)
        cp = apply.load_checkpoint(store, FEED)
    with pg.connect(dbs.core_url) as core:
        total = core.execute("select count(*) from core.chg_log").fetchone()
    # every change applied exactly once: the checkpoint's count equals the log (nothing was pruned)
    assert cp is not None and total is not None and cp.applied_changes == total[0]
