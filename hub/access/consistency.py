"""The sync position a read reflects (``as_of``) and read-your-writes against a consistency token.

A write hands back the core transaction id of its change (the token). A read presenting it waits,
bounded, until the query store's checkpoint snapshot shows that transaction as visible (applied);
otherwise it fails with 503 rather than show the caller a world without their own change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hub.db import ReadConnection
from hub.errors import ServiceUnavailable

FEED = "core"  # sync.worker.FEED; the hub may not import sync
NO_POSITION = "0:0:"  # a store that has never been filled

_VISIBLE = (
    "select pg_visible_in_snapshot(%s::text::xid8, prev_snapshot::pg_snapshot) from sync_checkpoint where feed = %s"
)


async def wait_until_visible(
    pool: AsyncConnectionPool[AsyncConnection[Any]], txid: int, *, timeout: float = 2.0, poll: float = 0.05
) -> None:
    """Return once core transaction ``txid`` is applied in the query store; 503 after ``timeout``."""
    deadline = time.monotonic() + timeout
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            while True:
                row = await (await conn.execute(_VISIBLE, (str(txid), FEED))).fetchone()
                if row is not None and row[0]:
                    return
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable("数据正在同步，请稍后再试")
                await asyncio.sleep(poll)
        finally:
            await conn.set_autocommit(False)


@asynccontextmanager
async def read_snapshot(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
) -> AsyncIterator[tuple[ReadConnection, str]]:
    """A read-only REPEATABLE READ transaction and the checkpoint snapshot it sees (``as_of``)."""
    async with pool.connection() as conn:
        await conn.execute("set transaction isolation level repeatable read, read only")
        row = await (
            await conn.execute("select prev_snapshot from sync_checkpoint where feed = %s", (FEED,))
        ).fetchone()
        try:
            yield ReadConnection(conn), str(row[0]) if row else NO_POSITION
        finally:
            await conn.rollback()
