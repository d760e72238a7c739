"""The core's command API is down during the declaration window: units keep submitting, reviewers keep
approving, commands queue; once the API is back every command is applied exactly once and each unit's
commands in approval order (a later change never overtaken by an earlier one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from hub import pg
from hub.declarations import service
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from tests.declarations import kit
from tests.declarations.conftest import World, world
from tests.reliability.servers import free_port

__all__ = ["world"]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

ADDRESSES = ("经十路1号", "经十路2号", "经十路3号", "经十路4号", "经十路5号")
LIVENESS = 60.0


def _core_api(core_url: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "core.api", "--core-db-url", core_url, "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            assert time.monotonic() < deadline, "the core API did not start"
            time.sleep(0.1)


@pytest.fixture
def worker_thread(world: World) -> Iterator[tuple[int, threading.Event]]:
    port = free_port()  # nothing listens here until the test starts the core API
    settings = DeclarationSettings(
        core_api_url=f"http://127.0.0.1:{port}",
        backoff_min_seconds=0.2,
        backoff_max_seconds=1.0,
        request_timeout_seconds=2.0,
        idle_wait_seconds=0.1,
        lease_seconds=5.0,
    )
    stop = threading.Event()
    workers = [OutboxWorker(world.dbs.hub_url, world.dbs.query_url, settings) for _ in range(2)]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    yield port, stop
    stop.set()
    for t in threads:
        t.join(timeout=30)
    for w in workers:
        w.close()


def test_outage_queues_then_applies_once_in_order(world: World, worker_thread: tuple[int, threading.Event]) -> None:
    port, _ = worker_thread
    op, rev = kit.unit_operator(1), kit.reviewer()
    # During the outage: five successive address changes of one unit are submitted and approved.
    ids = []
    for n, address in enumerate(ADDRESSES):
        decl = service.create(world.hub, world.query, op, T.UNIT_CHANGE, {"address": address}, f"o{n}", submit=True)
        service.claim(world.hub, rev, decl.id)
        service.approve(world.hub, rev, decl.id)
        world.hub.commit()
        ids.append(decl.id)
        time.sleep(0.3)  # let the workers fail on it at least once
    rows = world.hub.execute("select status, attempts from hub.declaration_command order by created_at").fetchall()
    world.hub.rollback()
    assert all(status in ("pending", "sending") for status, _ in rows), rows
    assert rows[0][1] >= 1  # the first one was tried, and failed, while the API was down

    # The backoff of the first command happens to end last (as jitter can make it): order must still hold.
    world.hub.execute(
        "update hub.declaration_command set next_attempt_at = now() + "
        "case when declaration_id = %s then interval '2 seconds' else interval '0' end",
        (ids[0],),
    )
    world.hub.commit()
    api = _core_api(world.dbs.core_url, port)
    try:
        _wait_healthy(port)
        deadline = time.monotonic() + LIVENESS
        while True:
            states = [service.get(world.hub, op, i).status for i in ids]
            world.hub.rollback()
            if all(s is Status.APPLIED for s in states):
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.2)
    finally:
        api.terminate()
        api.wait(timeout=10)

    with pg.connect(world.dbs.core_url) as core:
        logged = core.execute("select count(*), count(distinct command_id) from core.command_log").fetchone()
        applied = core.execute("select command_id from core.command_log order by received_at, txid").fetchall()
    assert logged == (len(ADDRESSES), len(ADDRESSES))  # each command applied once
    order = world.hub.execute(
        "select command_id from hub.declaration_command order by created_at, declaration_id"
    ).fetchall()
    world.hub.rollback()
    assert [str(r[0]) for r in applied] == [str(r[0]) for r in order]  # in approval order
    world.sync_round()
    assert world.query.execute("select address from unit_overview where unit_id = 1").fetchone() == (ADDRESSES[-1],)
