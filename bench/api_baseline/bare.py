"""Baseline: a bare FastAPI endpoint doing the person-overview read's one query and nothing else.

No token check, rate limit, audit, masking, snapshot or response model: the floor the gateway's
REST route is compared with. Served by ``uvicorn bench.api_baseline.bare:app`` with the query store's
libpq URL in ``BENCH_QUERY_DSN``; the pool has the gateway's size (1–10 connections, autocommit).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

QUERY = "select * from person_overview where person_id = %s"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        os.environ["BENCH_QUERY_DSN"],
        min_size=1,
        max_size=10,
        open=False,
        kwargs={"application_name": "bench-bare", "autocommit": True},
    )
    await pool.open(wait=True, timeout=30)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/persons/{person_id}/overview")
async def overview(person_id: int) -> dict[str, Any]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = app.state.pool
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(QUERY, (person_id,))
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(status_code=404)
    # The sealed ID number and phone (bytea) go out as hex, as PostGraphile sends them.
    return {"data": {k: v.hex() if isinstance(v, bytes) else v for k, v in row.items()}}
