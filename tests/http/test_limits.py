"""Body-size limits (413 before the handler runs) and the response deadline (503 with Retry-After)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from hub.config.web import WebSettings
from hub.http import problem
from hub.http.limits import RequestLimitsMiddleware
from hub.http.request_id import RequestIdMiddleware

SETTINGS = WebSettings(max_body_bytes=2048, max_upload_bytes=8192, request_timeout_seconds=0.5)


def _app() -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    calls: list[int] = []
    app.add_middleware(RequestLimitsMiddleware, settings=SETTINGS)
    app.add_middleware(problem.UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    problem.install(app)
    app.state.upload_prefixes = ["/uploads/"]

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        calls.append(len(body))
        return {"bytes": len(body)}

    @app.post("/uploads/file")
    async def upload(request: Request) -> dict[str, int]:
        body = await request.body()
        calls.append(len(body))
        return {"bytes": len(body)}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"never": "seen"}

    return app, calls


def test_declared_length_over_the_limit_is_refused_before_the_handler() -> None:
    app, calls = _app()
    with TestClient(app) as client:
        ok = client.post("/echo", content=b"x" * 2048)
        assert ok.status_code == 200 and ok.json() == {"bytes": 2048}
        r = client.post("/echo", content=b"x" * 2049)
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "提交的内容超过 2 KB 的上限"
        assert r.headers["x-request-id"]
    assert calls == [2048]  # the refused body never reached the handler


def test_upload_paths_have_the_larger_limit() -> None:
    app, calls = _app()
    with TestClient(app) as client:
        assert client.post("/uploads/file", content=b"x" * 8192).status_code == 200
        assert client.post("/uploads/file", content=b"x" * 8193).status_code == 413
    assert calls == [8192]


def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    app, calls = _app()

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000  # 10,000 bytes without a Content-Length

    with TestClient(app) as client:
        r = client.post("/echo", content=chunks())
        assert r.status_code == 413
    assert calls == []


def test_an_answer_that_does_not_start_in_time_is_503_with_retry_after() -> None:
    app, _ = _app()
    with TestClient(app) as client:
        r = client.get("/slow")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.json()["detail"] == "系统繁忙，请稍后再试"
