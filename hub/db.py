"""Connection pools of a web process: the hub DB (writes), the query store (reads) and the core (commands).

Read and write connections have distinct types, so a repository that takes a ``ReadConnection`` cannot
be handed the hub DB by mistake and the type checker refuses writes through a read path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NewType

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hub import pg

ReadConnection = NewType("ReadConnection", AsyncConnection[Any])  # query store (replica or primary)
WriteConnection = NewType("WriteConnection", AsyncConnection[Any])  # hub DB


async def _configure(conn: AsyncConnection[Any]) -> None:
    await conn.execute("set timezone = 'UTC'")
    await conn.commit()


@dataclass
class Pools:
    hub: AsyncConnectionPool[AsyncConnection[Any]]
    query: AsyncConnectionPool[AsyncConnection[Any]]

    @classmethod
    async def open(cls, hub_url: str, query_url: str, *, size: int = 10) -> Pools:
        pools = cls(
            AsyncConnectionPool(
                pg.libpq(hub_url),
                min_size=1,
                max_size=size,
                configure=_configure,
                open=False,
                kwargs={"application_name": "hub-web"},
            ),
            AsyncConnectionPool(
                pg.libpq(query_url),
                min_size=1,
                max_size=size,
                configure=_configure,
                open=False,
                kwargs={"application_name": "hub-web"},
            ),
        )
        await pools.hub.open(wait=True, timeout=30)
        await pools.query.open(wait=True, timeout=30)
        return pools

    async def close(self) -> None:
        await self.hub.close()
        await self.query.close()
