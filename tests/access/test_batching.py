"""hub.access.batching: calls made in one pass of the event loop run as one batch, and every caller gets
an answer or an error even when the batch's runner fails or forgets one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hub.access.batching import Coalescer, Pending


def test_calls_of_one_loop_pass_share_a_batch_later_ones_get_their_own() -> None:
    seen: list[list[int]] = []

    async def double(batch: Sequence[Pending[int, int]]) -> None:
        seen.append([p.ask for p in batch])
        for p in batch:
            p.future.set_result(2 * p.ask)

    async def run() -> None:
        c: Coalescer[int, int] = Coalescer(double, max_batch=3)
        first = await asyncio.gather(*(c.add(i) for i in range(5)))
        later = await c.add(7)
        assert list(first) == [0, 2, 4, 6, 8] and later == 14
        assert seen == [[0, 1, 2], [3, 4], [7]]  # max_batch 3 splits the pass; the later call is alone
        assert (c.batches, c.items) == (3, 6)

    asyncio.run(run())


def test_a_failing_runner_fails_every_waiting_caller() -> None:
    async def broken(batch: Sequence[Pending[int, int]]) -> None:
        batch[0].future.set_result(1)  # answered before the failure: keeps its answer
        raise ConnectionError("server gone")

    async def run() -> None:
        c: Coalescer[int, int] = Coalescer(broken)
        got = await asyncio.gather(*(c.add(i) for i in range(3)), return_exceptions=True)
        assert got[0] == 1
        assert all(isinstance(e, ConnectionError) for e in got[1:])

    asyncio.run(run())


def test_a_call_the_runner_forgets_is_not_left_waiting() -> None:
    async def forgetful(batch: Sequence[Pending[int, int]]) -> None:
        batch[0].future.set_result(0)

    async def run() -> None:
        c: Coalescer[int, int] = Coalescer(forgetful)
        first, second = c.add(1), c.add(2)
        assert await asyncio.wait_for(first, 5) == 0
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(second, 5)

    asyncio.run(run())


def test_a_cancelled_caller_does_not_break_the_batch() -> None:
    async def slow(batch: Sequence[Pending[int, int]]) -> None:
        await asyncio.sleep(0.01)
        for p in batch:
            if not p.future.done():
                p.future.set_result(p.ask)

    async def run() -> None:
        c: Coalescer[int, int] = Coalescer(slow)
        gone = asyncio.ensure_future(c.add(1))
        kept = asyncio.ensure_future(c.add(2))
        await asyncio.sleep(0)
        gone.cancel()
        assert await asyncio.wait_for(kept, 5) == 2
        assert gone.cancelled()

    asyncio.run(run())
