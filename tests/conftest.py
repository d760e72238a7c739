"""Shared fixtures: real PostgreSQL and Redis (the machine's servers, or embedded ones), never stand-ins."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import psycopg
import pytest

from tests.fixtures.servers import Servers, find_servers

pytest_plugins = ["tests.logscan"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    found = find_servers(tmp_path_factory.mktemp("embedded"))
    yield found
    found.close()


@pytest.fixture(scope="session")
def templates(servers: Servers) -> Iterator[dict[str, str]]:
    """Template databases (migrated once per worker) that each test clones."""
    from core import db as core_db
    from hub import migrations, pg

    # Unique per run: several test runs may share one server at the same time.
    suffix = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    names = {"core": f"tpl_core_{suffix}", "query": f"tpl_query_{suffix}", "hub": f"tpl_hub_{suffix}"}
    for name in names.values():
        pg.drop_database(servers.pg_url(name))
    core_db.init(servers.pg_url(names["core"]))
    migrations.upgrade("query", servers.pg_url(names["query"]))
    migrations.upgrade("hubdb", servers.pg_url(names["hub"]))
    yield names
    for name in names.values():
        pg.drop_database(servers.pg_url(name))


class DatabaseUrls(Protocol):
    """What a test app is built from: the four addresses (a fresh ``Databases``, a seeded province)."""

    core_url: str
    query_url: str
    hub_url: str
    redis_url: str


class Databases:
    def __init__(self, servers: Servers, core: str, query: str, hub: str) -> None:
        self.core_url = servers.pg_url(core)
        self.query_url = servers.pg_url(query)
        self.hub_url = servers.pg_url(hub)
        self.redis_url = servers.redis_url


@pytest.fixture
def dbs(servers: Servers, templates: dict[str, str]) -> Iterator[Databases]:
    """A fresh core database, query store and hub database for one test, dropped afterwards."""
    from hub import pg

    tag = uuid.uuid4().hex[:10]
    names = {"core": f"t_core_{tag}", "query": f"t_query_{tag}", "hub": f"t_hub_{tag}"}
    with psycopg.connect(pg.libpq(servers.pg_url("postgres")), autocommit=True) as admin:
        for kind, name in names.items():
            admin.execute(f'create database "{name}" template "{templates[kind]}"')
    yield Databases(servers, names["core"], names["query"], names["hub"])
    for name in names.values():
        pg.drop_database(servers.pg_url(name))
