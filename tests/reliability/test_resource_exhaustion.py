"""500 slow clients holding connections open and a burst of large uploads do not starve other users.

The web process runs as `hub serve` (uvicorn) in its own process. While 500 connections trickle their
request headers one byte a second and 30 clients announce 50 MB bodies, a normal user's reads still
answer 200 within a liveness bound, and every oversized upload gets 413 without its body being read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest

from tests.api.conftest import Province
from tests.reliability.servers import hub_serve

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

SLOW_CLIENTS = 500
BIG_UPLOADS = 30
LIVENESS_SECONDS = 5.0


@pytest.fixture
def web(province: Province) -> Iterator[int]:
    with hub_serve(province.core_url, province.hub_url, province.query_url, province.redis_url) as (port, _):
        yield port


async def _get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), LIVENESS_SECONDS)
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data


async def _slow_client(port: int, stop: asyncio.Event) -> None:
    """Opens a connection and sends its request line and headers one byte a second."""
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    request = b"GET /readyz HTTP/1.1\r\nHost: hub\r\nX-Padding: " + b"a" * 200
    try:
        for byte in request:
            if stop.is_set():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _big_upload(port: int) -> tuple[int, float]:
    """Announces a 50 MB body, sends 64 KB of it, and waits for the answer."""
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/v1/anything HTTP/1.1\r\nHost: hub\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 52428800\r\n\r\n" + b"z" * 65536
    )
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIVENESS_SECONDS)
    writer.close()
    return int(head.split(b" ", 2)[1]), time.monotonic() - t0


async def _scenario(port: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    stop = asyncio.Event()
    slow = [asyncio.create_task(_slow_client(port, stop)) for _ in range(SLOW_CLIENTS)]
    await asyncio.sleep(2)  # every slow client is connected and trickling
    uploads = asyncio.gather(*(_big_upload(port) for _ in range(BIG_UPLOADS)))
    reads: list[tuple[int, float]] = []
    for _ in range(20):
        t0 = time.monotonic()
        status, _ = await _get(port, "/readyz")
        reads.append((status, time.monotonic() - t0))
        await asyncio.sleep(0.1)
    upload_results = await uploads
    stop.set()
    await asyncio.gather(*slow)
    return reads, list(upload_results)


def test_slow_clients_and_big_uploads_do_not_starve_others(web: int) -> None:
    reads, uploads = asyncio.run(_scenario(web))
    assert [s for s, _ in reads] == [200] * len(reads)
    assert max(t for _, t in reads) < LIVENESS_SECONDS
    assert [s for s, _ in uploads] == [413] * BIG_UPLOADS
    assert max(t for _, t in uploads) < LIVENESS_SECONDS
