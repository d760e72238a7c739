"""Reads go to a fresh streaming replica of the query store, fall back to the primary when it lags or is
down, come back when it has caught up, and read-your-writes holds across every switch.

A private primary and a replica (pg_basebackup -R) on free ports; the core and hub DB stay on the test
server. The replica's replay is frozen with SIGSTOP on its startup process, and the replica is shut
down with ``pg_ctl -m immediate``. Waits are generous liveness bounds, never timing assertions.
"""

from __future__ import annotations

import os
import time
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from hub import pg
from hub.db import ReplicaSet
from hub.settings import SyncSettings
from tests.api.actors import cast
from tests.api.conftest import Api, load_province, make_api
from tests.conftest import Databases
from tests.replica.cluster import PrimaryAndReplica, binaries_present, wait_for

pytestmark = pytest.mark.slow

MAX_LAG = 1.0


@pytest.fixture
def clusters() -> Iterator[PrimaryAndReplica]:
    if not binaries_present():
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI=true but the PostgreSQL server programs (initdb, pg_basebackup) are missing")
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) not installed")
    c = PrimaryAndReplica()
    try:
        c.start()
        yield c
    finally:
        c.close()


class World:
    """The app over the private primary (with the replica configured), and the core's writer."""

    def __init__(self, dbs: Databases, clusters: PrimaryAndReplica, api: Api, person: int) -> None:
        from sync.worker import SyncWorker

        self.dbs = dbs
        self.clusters = clusters
        self.api = api
        self.person = person
        self.me = cast(load_province(dbs.core_url, clusters.primary.url("query"), dbs.hub_url, dbs.redis_url)).actors[
            "person_a"
        ]
        self.path = f"/api/v1/persons/{person}/overview"
        self.sync = SyncWorker.from_settings(dbs.core_url, clusters.primary.url("query"), SyncSettings(embedded=False))
        self.writes = 0

    @property
    def replicas(self) -> ReplicaSet:
        replicas = self.api.client.app.state.pools.replicas  # type: ignore[attr-defined]
        assert isinstance(replicas, ReplicaSet)
        return replicas

    @property
    def label(self) -> str:
        return self.replicas.replicas[0].label

    def write(self) -> tuple[int, str]:
        """Change the person's 民族 code in the core and sync it to the primary; the token and new value."""
        self.writes += 1
        value = f"{90 + self.writes % 10:02d}"
        with pg.connect(self.dbs.core_url) as core:
            row = core.execute("select pg_current_xact_id()::text").fetchone()
            core.execute("update core.ac01 set aac005 = %s where aac001 = %s", (value, self.person))
            core.commit()
        assert row is not None
        self.sync.drain()
        return int(typing.cast(str, row[0])), value  # pg_current_xact_id()::text

    def read(self, token: int | None = None) -> tuple[str, str]:
        """(ethnicity, server) of one overview read, which must succeed."""
        before = dict(self.replicas.served)
        headers = {"X-Consistency-Token": str(token)} if token else {}
        r = self.api.get(self.me, self.path, headers=headers)
        assert r.status_code == 200, r.text
        after = self.replicas.served
        servers = [k for k in after if after[k] != before.get(k, 0)]
        assert len(servers) == 1, servers
        return r.json()["data"]["ethnicity"], servers[0]

    def portal(self, fn: Any) -> None:
        """Run ``fn`` on the app's event loop."""
        self.api.client.portal.call(fn)  # type: ignore[union-attr]

    def replica_value(self) -> Any:
        with pg.connect(self.clusters.replica.url("query")) as conn:
            row = conn.execute("select ethnicity from person_overview where person_id = %s", (self.person,)).fetchone()
        return row[0] if row else None


def _store_on_primary(dbs: Databases, clusters: PrimaryAndReplica) -> str:
    from core import seed
    from hub import migrations
    from sync.backfill import backfill

    seed.seed(dbs.core_url, persons=20, years=1)
    query = clusters.primary.url("query")
    pg.ensure_database(query)
    migrations.upgrade("query", query)
    backfill(dbs.core_url, query)
    return query


def test_reads_follow_replica_freshness_and_keep_read_your_writes(dbs: Databases, clusters: PrimaryAndReplica) -> None:
    query = _store_on_primary(dbs, clusters)
    replica_url = clusters.replica.url("query")
    wait_for(lambda: _answers(replica_url), 30, "the replica has the query store")
    with make_api(
        dbs.core_url,
        query,
        dbs.hub_url,
        dbs.redis_url,
        query_replica_urls=(replica_url,),
        query_replica_max_lag_seconds=MAX_LAG,
        query_replica_check_seconds=0.1,
        read_cache_entries=0,  # every read reaches a server: this test is about where reads go
    ) as api:
        person = min(load_province(dbs.core_url, query, dbs.hub_url, dbs.redis_url).persons)
        w = World(dbs, clusters, api, person)
        try:
            _scenario(w)
        finally:
            w.sync.close()


def _answers(url: str) -> bool:
    try:
        with pg.connect(url) as conn:
            conn.execute("select 1 from sync_checkpoint")
        return True
    except Exception:
        return False


def _settled(w: World) -> bool:
    """No check round for half a second: the checker sleeps."""
    rounds = w.replicas.checks
    time.sleep(0.5)
    return w.replicas.checks == rounds


def _scenario(w: World) -> None:
    replica = w.label
    wait_for(lambda: bool(w.replicas.fresh()), 20, "the replica is measured fresh")

    # 1. Reads go to the fresh replica; a token read of a new write is answered with that write.
    assert w.read()[1] == replica
    token, value = w.write()
    assert w.read(token)[0] == value
    wait_for(lambda: w.replica_value() == value, 20, "the replica replays the write")
    assert w.read() == (value, replica)

    # 2. Replay frozen (SIGSTOP on the startup process). While the replica is still taken as fresh
    #    (bound raised on purpose), a plain read shows the replica's older value: it is served there.
    startup = w.clusters.replica.backend_pid("startup")
    w.replicas.max_lag = 3600.0
    w.clusters.freeze(startup)
    old = value
    token, value = w.write()
    assert w.read() == (old, replica)
    #    A token read cannot be satisfied by the frozen replica: it waits there (bounded by the lag
    #    bound, cut short by the 2 s consistency timeout), then answers from the primary.
    assert w.read(token) == (value, "primary")
    #    With the real bound back, the measured lag takes the replica out: plain reads go to the
    #    primary and see the write, with no error.
    w.replicas.max_lag = MAX_LAG
    wait_for(lambda: not w.replicas.fresh(), 20, "the frozen replica is measured stale")
    assert w.read() == (value, "primary")
    token, value = w.write()
    assert w.read(token) == (value, "primary")

    # 3. Replay resumes: once caught up, reads return to the replica, with every write in them.
    w.clusters.thaw()
    wait_for(lambda: w.read()[1] == replica, 30, "reads return to the caught-up replica", interval=0.1)
    assert w.read() == (value, replica)
    token, value = w.write()
    assert w.read(token)[0] == value  # replica (after a short wait) or primary: never without the write

    # 4. The replica is shut down hard. The checker is held back first (long interval, lag bound
    #    raised), so the next read still picks the dead replica: its pooled connection fails, the
    #    replica leaves the rotation and the read is answered by the primary without an error.
    w.replicas.max_lag = 3600.0
    w.replicas.check_interval = 3600.0
    rounds = w.replicas.checks
    w.portal(w.replicas.check_soon)
    wait_for(lambda: w.replicas.checks > rounds, 20, "one more check round")
    wait_for(lambda: _settled(w), 20, "the checker in its long pause")
    w.clusters.replica.stop("immediate")
    assert [r.label for r in w.replicas.fresh()] == [replica]
    assert w.read() == (value, "primary")
    assert not w.replicas.fresh()
    w.replicas.max_lag = MAX_LAG
    w.replicas.check_interval = 0.1
    w.portal(w.replicas.check_soon)
    token, value = w.write()
    for _ in range(5):
        assert w.read() == (value, "primary")
    assert w.read(token) == (value, "primary")
    assert not w.replicas.fresh()

    # 5. It starts again, replays what it missed, and serves reads again.
    w.clusters.replica.start()
    wait_for(lambda: w.read()[1] == replica, 40, "reads return to the restarted replica", interval=0.2)
    assert w.read() == (value, replica)
    token, value = w.write()
    assert w.read(token)[0] == value
