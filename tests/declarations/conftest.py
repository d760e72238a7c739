"""Fixtures of the declaration tests: a seeded core, a query store filled by the real sync, the hub DB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from hub import pg
from sync.worker import SyncWorker
from tests.conftest import Databases
from tests.declarations import kit


@dataclass
class World:
    dbs: Databases
    hub: psycopg.Connection[Any]
    query: psycopg.Connection[Any]
    sync: SyncWorker

    def sync_round(self) -> None:
        kit.sync_round(self.sync)


@pytest.fixture
def world(dbs: Databases) -> Iterator[World]:
    with pg.connect(dbs.core_url) as core:
        kit.seed_core(core)
        core.commit()
    sync = kit.start_sync(dbs)
    kit.sync_round(sync)
    hub = pg.connect(dbs.hub_url)
    query = pg.connect(dbs.query_url, autocommit=True)
    try:
        yield World(dbs, hub, query, sync)
    finally:
        hub.close()
        query.close()
        sync.close()
