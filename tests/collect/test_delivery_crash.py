"""The activation code of a unit a collection opened goes out from the outbox worker itself, once, even when
the worker (a real ``hub declarations run`` process) is killed with SIGKILL after it recorded the core's
apply and before the delivery.

The test holds an ACCESS EXCLUSIVE lock on ``hub.collect_opening`` (the delivery record) while the worker
runs: the worker records the apply (its own transaction, which does not touch that table) and then waits
on the lock in its delivery step — that is where it is killed. After the lock is released, two restarted
workers at once deliver the code exactly once: one SMS, one delivery record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from hub import pg
from hub.collect import service as collect
from hub.declarations import service as declarations
from hub.declarations.states import Status
from hub.messaging import sealed as sms_sealed
from tests.collect.conftest import collection
from tests.declarations import kit
from tests.declarations.conftest import World

pytestmark = pytest.mark.slow

LIVENESS = 60.0  # seconds; a bound on the waits, not a speed check


def start_worker(world: World, core_api_url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=world.dbs.core_url,
        HUB_HUB_DB_URL=world.dbs.hub_url,
        HUB_QUERY_DB_URL=world.dbs.query_url,
        HUB_REDIS_URL=world.dbs.redis_url,
        HUB_DECLARATIONS__CORE_API_URL=core_api_url,
        HUB_DECLARATIONS__LEASE_SECONDS="1",
        HUB_DECLARATIONS__IDLE_WAIT_SECONDS="0.1",
        HUB_DECLARATIONS__BACKOFF_MIN_SECONDS="0.1",
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "declarations", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(what: str, predicate: Callable[[], bool], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + LIVENESS
    while not predicate():
        assert all(p.poll() is None for p in procs), f"a worker exited while waiting for: {what}"
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.05)


def one(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with pg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def test_killed_between_the_apply_and_the_delivery(world: World) -> None:
    payload = collection(5)
    uscc = payload["unit"]["uscc"]
    decl = collect.submit(
        world.hub, world.query, payload, actor=collect.applicant(uscc, "web"), key="crash-1", now=kit.NOW
    )
    rev = kit.reviewer()
    declarations.claim(world.hub, rev, decl.id, now=kit.NOW)
    declarations.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    hub_url = world.dbs.hub_url

    def status() -> str:
        return str(one(hub_url, "select status from hub.declaration where id = %s", (decl.id,)))

    def sms_count() -> int:
        return int(
            one(
                hub_url,
                "select count(*) from hub.sms_message where purpose = 'unit_collect_opened' and reference = %s",
                (decl.reference,),
            )
        )

    def openings() -> int:
        return int(one(hub_url, "select count(*) from hub.collect_opening where declaration_id = %s", (decl.id,)))

    def waiting_on_the_lock() -> bool:
        return bool(
            one(
                hub_url,
                "select count(*) > 0 from pg_locks l join pg_class c on c.oid = l.relation "
                "where c.relname = 'collect_opening' and not l.granted",
            )
        )

    def workers_connected() -> int:
        return int(
            one(
                hub_url,
                "select count(*) from pg_stat_activity where application_name = 'hub-declarations' "
                "and datname = current_database()",
            )
        )

    with kit.core_api(world.dbs.core_url) as api:
        lock = pg.connect(hub_url)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            lock.execute("lock table hub.collect_opening in access exclusive mode")
            first = start_worker(world, api.url)
            procs.append(first)
            wait_for("the apply recorded", lambda: status() == Status.APPLIED.value, procs)
            wait_for("the delivery waiting on the lock", waiting_on_the_lock, procs)
            os.kill(first.pid, signal.SIGKILL)  # applied and recorded; the delivery never happened
            assert first.wait(LIVENESS) == -signal.SIGKILL
            procs.clear()
            lock.rollback()
            assert (sms_count(), openings()) == (0, 0)

            # Restarted — two workers at once: the code goes out once.
            procs = [start_worker(world, api.url), start_worker(world, api.url)]
            wait_for("the delivery", lambda: openings() == 1, procs)
            # Both have connected for their first round (whose end is the start-up delivery step).
            wait_for("both workers in their rounds", lambda: workers_connected() >= 2, procs)
            for p in procs:
                p.terminate()
                p.wait(LIVENESS)
        finally:
            lock.close()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    assert (sms_count(), openings()) == (1, 1)
    with pg.connect(hub_url) as conn:
        found = sms_sealed.messages(conn, "purpose = 'unit_collect_opened' and reference = %s", (decl.reference,))
        row = (found[0]["template"], found[0]["personalisation"]["content"]) if found else None
        unit_id = one(hub_url, "select unit_id from hub.collect_opening where declaration_id = %s", (decl.id,))
    assert row is not None and row[0] == "staff_notice"
    assert f"单位编号{unit_id}" in row[1] and decl.reference in row[1]
