"""/healthz reports the sync position, lag and faults of the embedded sync worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from gateway.app import create_app
from hub import pg
from hub.runtime import Endpoints
from hub.settings import Settings, SyncSettings
from sync import apply, feed
from sync.worker import FEED
from tests.conftest import Databases
from tests.fixtures import core_rows


def _client(dbs: Databases) -> TestClient:
    settings = Settings(
        core_db_url=dbs.core_url,
        hub_db_url=dbs.core_url,
        query_db_url=dbs.query_url,
        sync=SyncSettings(idle_wait_seconds=0.1),
    )
    endpoints = Endpoints(dbs.core_url, dbs.core_url, dbs.query_url, "redis://127.0.0.1:6379/15")
    return TestClient(create_app(settings, endpoints))


def _wait_for(client: TestClient, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get("/healthz").json()
        if predicate(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_healthz_shows_position_lag_and_a_fault(dbs: Databases) -> None:
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core)
        core.commit()
    with _client(dbs) as client:
        body = _wait_for(client, lambda b: b["sync"]["pending_changes"] == 0)
        assert body["status"] == "ok"
        assert body["sync"]["position"]["applied_changes"] == 7  # 1 region + 1 agency + 2 units + 3 persons
        assert body["sync"]["lag_seconds"] == 0
        with pg.connect(dbs.core_url) as core:
            core.execute("insert into core.chg_log (tbl, op, new_row) values ('zz99', 'I', '{}')")
            core.commit()
        body = _wait_for(client, lambda b: b["sync"]["fault"] is not None)
        assert body["status"] == "degraded"
        assert body["sync"]["fault"]["reason"] == "unknown table 'zz99'"
        assert body["sync"]["pending_changes"] == 1
        metrics = client.get("/metrics").text
        assert "hub_sync_fault 1.0" in metrics


def test_readyz_reports_each_dependency(dbs: Databases) -> None:
    settings = Settings(
        core_db_url=dbs.core_url, hub_db_url=dbs.hub_url, query_db_url=dbs.query_url, sync=SyncSettings(embedded=False)
    )
    # Redis on a port nothing listens on: the process is still ready (reads degrade to a local limiter).
    endpoints = Endpoints(dbs.core_url, dbs.hub_url, dbs.query_url, "redis://127.0.0.1:1/0")
    with TestClient(create_app(settings, endpoints)) as client:
        reply = client.get("/readyz")
        assert reply.status_code == 200
        body = reply.json()
        assert body["status"] == "ready"
        assert body["checks"]["hub_db"] == "ok"
        assert body["checks"]["query_store"] == "ok"
        assert body["checks"]["redis"] != "ok"
        # The query store goes away (its pool closed): the process reports itself not ready.
        pool = client.app.state.pools.query  # type: ignore[attr-defined]
        client.portal.call(pool.close)  # type: ignore[union-attr]
        reply = client.get("/readyz")
        assert reply.status_code == 503
        assert reply.json()["checks"]["query_store"] != "ok"
