"""Where a read runs, the sync position it reflects (``as_of``), and read-your-writes against a token.

A write hands back the core transaction id of its change (the token). A read presenting it waits,
bounded, until the query store's checkpoint snapshot shows that transaction as visible (applied);
otherwise it fails with 503 rather than show the caller a world without their own change.

With replicas configured (``hub.db.ReplicaSet``), a read goes to a replica that is fresh enough and
to the primary otherwise. A read with a token first waits on the chosen replica, at most the replica
lag bound (a fresh replica reaches what the primary has within that time), then goes to the primary
and waits there for the rest of the timeout; the visibility check and the snapshot run on the same
connection, and a server's applied position only moves forward, so the snapshot holds the writer's
change. A replica that fails before the read has begun (connection refused or cut, pool exhausted)
is taken out of rotation and the read runs on the primary: the caller sees no error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from hub.db import Pools, ReadConnection
from hub.errors import ServiceUnavailable

FEED = "core"  # sync.worker.FEED; the hub may not import sync
NO_POSITION = "0:0:"  # a store that has never been filled
PRIMARY = "primary"
REPLICA_CHECKOUT_SECONDS = 0.5  # a replica pool that cannot hand out a connection by then is skipped

_VISIBLE = (
    "select pg_visible_in_snapshot(%s::text::xid8, prev_snapshot::pg_snapshot) from sync_checkpoint where feed = %s"
)
# The checkpoint snapshot and the newest sync event in the same snapshot: the event id is the clock of
# the read-model cache (hub.access.cache), as every batch writes one event per subject it touched.
_POSITION = (
    "select c.prev_snapshot, coalesce((select max(e.id) from sync_event e), 0) from sync_checkpoint c where c.feed = %s"
)


# The same, opening the read-only REPEATABLE READ transaction (no parameters: one simple-protocol message).
_BEGIN_POSITION = (
    "begin isolation level repeatable read, read only; "
    "select c.prev_snapshot, coalesce((select max(e.id) from sync_event e), 0) from sync_checkpoint c "
    f"where c.feed = '{FEED}'"
)


@dataclass(frozen=True)
class Snapshot:
    """What one read sees: the sync position (``as_of``), the newest sync event id, and the server."""

    as_of: str
    event_id: int
    server: str


async def _wait_on(conn: AsyncConnection[Any], txid: int, deadline: float, poll: float) -> bool:
    """Poll ``conn`` until core transaction ``txid`` is applied there; False once ``deadline`` passed."""
    was_autocommit = conn.autocommit
    if not was_autocommit:
        await conn.set_autocommit(True)
    try:
        while True:
            row = await (await conn.execute(_VISIBLE, (str(txid), FEED))).fetchone()
            if row is not None and row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    finally:
        if not was_autocommit:
            await conn.set_autocommit(False)


async def wait_until_visible(
    pool: AsyncConnectionPool[AsyncConnection[Any]], txid: int, *, timeout: float = 2.0, poll: float = 0.05
) -> None:
    """Return once core transaction ``txid`` is applied in the store behind ``pool``; 503 after ``timeout``."""
    async with pool.connection() as conn:
        if not await _wait_on(conn, txid, time.monotonic() + timeout, poll):
            raise ServiceUnavailable("数据正在同步，请稍后再试")


@asynccontextmanager
async def _snapshot(conn: AsyncConnection[Any], server: str) -> AsyncIterator[tuple[ReadConnection, Snapshot]]:
    if conn.autocommit:
        # A pooled query-store connection (hub.db keeps them in autocommit): the transaction is opened by
        # hand, BEGIN and the position query in one simple-protocol round trip, and ended the same way.
        cur = await conn.execute(_BEGIN_POSITION)
        cur.nextset()  # past BEGIN's empty result to the position row
        row = await cur.fetchone()
        try:
            snap = Snapshot(str(row[0]), int(row[1]), server) if row else Snapshot(NO_POSITION, 0, server)
            yield ReadConnection(conn), snap
        finally:
            if not conn.closed:
                await conn.execute("rollback")
        return
    await conn.execute("set transaction isolation level repeatable read, read only")
    row = await (await conn.execute(_POSITION, (FEED,))).fetchone()
    try:
        snap = Snapshot(str(row[0]), int(row[1]), server) if row else Snapshot(NO_POSITION, 0, server)
        yield ReadConnection(conn), snap
    finally:
        await conn.rollback()


@asynccontextmanager
async def read_snapshot(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
) -> AsyncIterator[tuple[ReadConnection, str]]:
    """A read-only REPEATABLE READ transaction on ``pool`` and the checkpoint snapshot it sees (``as_of``)."""
    async with pool.connection() as conn, _snapshot(conn, PRIMARY) as (rc, snap):
        yield rc, snap.as_of


@asynccontextmanager
async def open_read(
    pools: Pools, token: int | None = None, *, timeout: float = 2.0, poll: float = 0.05
) -> AsyncIterator[tuple[ReadConnection, Snapshot]]:
    """One read snapshot on a fresh replica or the primary, after any read-your-writes wait.

    Raises ServiceUnavailable (503) when ``token`` is not applied anywhere within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    replicas = pools.replicas
    replica = replicas.pick() if replicas is not None else None
    if replicas is not None and replica is not None:
        began = False
        try:
            async with replica.pool.connection(timeout=REPLICA_CHECKOUT_SECONDS) as conn:
                ready = token is None or await _wait_on(
                    conn, token, min(deadline, time.monotonic() + replicas.max_lag), poll
                )
                if ready:
                    async with _snapshot(conn, replica.label) as opened:
                        replicas.served[replica.label] += 1
                        began = True
                        yield opened
                    return
        except (PoolTimeout, PoolClosed):  # busy, or its pool is being renewed: the primary answers
            if began:
                raise  # from the route itself (another pool), not from choosing the replica
        except psycopg.OperationalError as exc:
            if began:
                raise
            replica.mark_down(type(exc).__name__)
            replicas.check_soon()
    async with pools.query.connection() as conn:
        if token is not None and not await _wait_on(conn, token, deadline, poll):
            raise ServiceUnavailable("数据正在同步，请稍后再试")
        async with _snapshot(conn, PRIMARY) as opened:
            if replicas is not None:
                replicas.served[PRIMARY] += 1
            yield opened
