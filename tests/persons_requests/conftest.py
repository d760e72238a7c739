"""Fixtures of the person-request tests: the declarations' small province (a real sync into the query store),
two persons with valid ID numbers, portal accounts and 社会保障卡, and the core's command API as a real
process with the person-request outbox pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from hub import pg
from hub.declarations.config import DeclarationSettings
from hub.identity.config import IdentityConfig
from hub.ids import make_id_number
from hub.persons.requests_outbox import PersonOutbox
from tests.declarations import kit
from tests.declarations.conftest import World, world
from tests.identity.idkit import config, last_code
from tests.identity.oauthkit import make_app
from tests.portal.kit import Person, log_in, person_account

__all__ = ["world"]

# Two persons of region 370102 besides the declarations' 1–4: 11 (card 正常) and 12 (card 正常).
PERSONS = ((11, "周一", date(1990, 5, 5)), (12, "吴二", date(1991, 9, 9)))


def new_phone() -> str:
    """A mobile number of its own per call (the code throttles count per number)."""
    return f"137{uuid.uuid4().int % 10**8:08d}"


def seed_persons(core: psycopg.Connection[Any]) -> None:
    for seq, (person_id, name, birth) in enumerate(PERSONS, start=1):
        core.execute(
            "insert into core.ac01 (aac001, aac002, aac003, aac004, aac006, aac007, aac067, aaa027) "
            "values (%s, %s, %s, '1', %s, %s, %s, %s)",
            (person_id, make_id_number(kit.REGION, birth, 30 + seq, "1"), name, birth, date(2005, 7, 1),
             f"1390000{person_id:04d}", kit.REGION),
        )  # fmt: skip
        core.execute(
            "insert into core.ac50 (aac001, aaz500, identify_code, status, bank, issued_on) "
            "values (%s, %s, %s, '1', '中国工商银行', '2019-03-08')",
            (person_id, f"A{person_id:08d}", f"{kit.REGION}D156000005{person_id:06d}"),
        )


@dataclass
class Env:
    world: World
    cfg: IdentityConfig
    redis: redis.Redis
    outbox: PersonOutbox
    me: Person
    other: Person

    def hub(self) -> psycopg.Connection[Any]:
        return self.world.hub

    def through_core(self) -> int:
        """One outbox round (to the core and back into the hub DB), then one sync round; requests claimed."""
        claimed = self.outbox.step()
        self.world.sync_round()
        return claimed

    def code_to(self, phone: str) -> str:
        with pg.connect(self.world.dbs.hub_url) as conn:
            return last_code(conn, phone)

    def q(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        return self.world.query.execute(sql, args).fetchall()

    def h(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with pg.connect(self.world.dbs.hub_url) as conn:
            return conn.execute(sql, args).fetchall()


@pytest.fixture
def core_api(world: World) -> Iterator[kit.CoreApi]:
    with kit.core_api(world.dbs.core_url) as api:
        yield api


@pytest.fixture
def env(world: World, core_api: kit.CoreApi) -> Iterator[Env]:
    with pg.connect(world.dbs.core_url) as core:
        seed_persons(core)
        core.commit()
    world.sync_round()
    cfg = config()
    me = person_account(world.dbs, cfg, 11)  # type: ignore[arg-type]
    other = person_account(world.dbs, cfg, 12)  # type: ignore[arg-type]
    r = redis.Redis.from_url(world.dbs.redis_url)
    outbox = PersonOutbox(world.dbs.hub_url, DeclarationSettings(core_api_url=core_api.url))
    try:
        yield Env(world, cfg, r, outbox, me, other)
    finally:
        outbox.close()
        r.close()


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    """The gateway app with ``env.me`` logged in to the portal."""
    app, _ = make_app(env.world.dbs)
    with TestClient(app, raise_server_exceptions=False) as c:
        log_in(c, env.world.dbs, env.me)  # type: ignore[arg-type]
        yield c
