"""A database or Redis that is down answers 503 with Retry-After and a Chinese problem, never 500."""

from __future__ import annotations

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError

from hub.http import problem
from hub.http.request_id import RequestIdMiddleware


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (psycopg.OperationalError("server closed the connection"), "5"),
        (PoolTimeout("no connection in 4 s"), "5"),
        (RedisConnectionError("connection refused"), "2"),
        (TimeoutError(), "2"),  # redis-py's asyncio connect may raise the builtin
    ],
)
def test_dependency_outages_are_503(error: Exception, retry_after: str) -> None:
    app = FastAPI()
    app.add_middleware(problem.UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    problem.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 503
    assert r.headers["retry-after"] == retry_after
    assert r.headers["content-type"] == "application/problem+json"
    assert "请稍后再试" in r.json()["detail"]


def test_a_real_bug_stays_500() -> None:
    app = FastAPI()
    app.add_middleware(problem.UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    problem.install(app)

    @app.get("/bug")
    async def bug() -> None:
        raise KeyError("x")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/bug").status_code == 500
