"""A read presenting a consistency token waits until the query store has applied that core transaction."""

from __future__ import annotations

import threading
import time

from hub import pg
from tests.api.actors import cast
from tests.api.conftest import Province, make_api
from tests.conftest import Databases


def _province_copy(dbs: Databases, province: Province) -> None:
    """This test moves the checkpoint: give it its own core and store, cloned from the province."""
    import psycopg

    with psycopg.connect(pg.libpq(pg.with_database(dbs.core_url, "postgres")), autocommit=True) as admin:
        for url, source in ((dbs.core_url, province.core_url), (dbs.query_url, province.query_url)):
            admin.execute(f'drop database "{pg.database_name(url)}" with (force)')
            admin.execute(f'create database "{pg.database_name(url)}" template "{pg.database_name(source)}"')


def _core_write(core_url: str) -> int:
    with pg.connect(core_url) as core:
        row = core.execute("select pg_current_xact_id()::text").fetchone()
        core.execute("update core.ac01 set aac005 = aac005 where aac001 = (select min(aac001) from core.ac01)")
        core.commit()
    assert row is not None
    return int(str(row[0]))  # pg_current_xact_id()::text


def _advance_checkpoint(core_url: str, query_url: str) -> None:
    with pg.connect(core_url, autocommit=True) as core, pg.connect(query_url) as store:
        snap = core.execute("select pg_current_snapshot()::text").fetchone()
        assert snap is not None
        store.execute("update sync_checkpoint set prev_snapshot = %s where feed = 'core'", (snap[0],))
        store.commit()


def test_a_token_waits_for_the_store_or_answers_503(dbs: Databases, province: Province) -> None:
    _province_copy(dbs, province)
    c = cast(province)
    me = c.actors["person_a"]
    path = f"/api/v1/persons/{c.a}/overview"
    with make_api(dbs.core_url, dbs.query_url, dbs.hub_url, dbs.redis_url, consistency_timeout=0.3) as api:
        before = api.get(me, path).json()["as_of"]
        txid = _core_write(dbs.core_url)
        started = time.monotonic()
        r = api.get(me, path, headers={"X-Consistency-Token": str(txid)})
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        assert "retry-after" in r.headers
        assert 0.25 <= time.monotonic() - started < 5  # it waited for the store, then gave up (bounded)
        g = api.gql(me, "{ asOf }", headers={"X-Consistency-Token": str(txid)})
        assert g.status_code == 503
        # The sync catches up while the read waits: the read then answers with the newer position.
        timer = threading.Timer(0.1, _advance_checkpoint, (dbs.core_url, dbs.query_url))
        timer.start()
        api_wait = api.client.app.state  # type: ignore[attr-defined]
        api_wait.consistency_timeout = 2.0
        r = api.get(me, path, headers={"X-Consistency-Token": str(txid)})
        timer.join()
        assert r.status_code == 200, r.text
        assert r.json()["as_of"] != before
        assert api.get(me, path, headers={"X-Consistency-Token": "12x"}).status_code == 422
