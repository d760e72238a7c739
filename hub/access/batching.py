"""Coalescing the calls made during one pass of the event loop into one batch (one round trip).

Under load a web process has many requests at the same step at once: dozens of rate-limit checks, dozens
of overview reads. Each made on its own costs a round trip to Redis or PostgreSQL and the driver's work
of one call; made together they cost one. ``Coalescer.add`` queues an item and, if no flush is pending,
schedules one with ``loop.call_soon``: every item added before the loop gets to it (the requests whose
callbacks run in the same pass) goes into the same batch. An idle process pays one loop pass of delay
(microseconds) and sends batches of one, exactly the calls it made before.

The runner gets the items and must settle each item's future; whatever it leaves unsettled (it raised,
or forgot one) is failed with the runner's exception or a ``RuntimeError``, so no caller waits forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class Pending(Generic[T, R]):
    """One queued call: what it asks and the future its caller awaits."""

    ask: T
    future: asyncio.Future[R]


@dataclass(eq=False)
class Coalescer(Generic[T, R]):
    """Batches of ``Pending`` items handed to ``run``, at most ``max_batch`` at a time."""

    run: Callable[[Sequence[Pending[T, R]]], Awaitable[None]]
    max_batch: int = 256
    batches: int = 0  # batches run (tests and the benchmark read them)
    items: int = 0  # items run
    _queue: list[Pending[T, R]] = field(default_factory=list)
    _scheduled: bool = False
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    def add(self, ask: T) -> asyncio.Future[R]:
        """Queue ``ask``; the returned future settles when its batch has run."""
        loop = asyncio.get_running_loop()
        pending: Pending[T, R] = Pending(ask, loop.create_future())
        self._queue.append(pending)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return pending.future

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        for start in range(0, len(queue), self.max_batch):
            task = asyncio.ensure_future(self._run(queue[start : start + self.max_batch]))
            self._running.add(task)  # a reference until it ends (the loop keeps only weak ones)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: Sequence[Pending[T, R]]) -> None:
        self.batches += 1
        self.items += len(batch)
        failure: BaseException | None = None
        try:
            await self.run(batch)
        except BaseException as exc:
            failure = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(failure or RuntimeError("batch left a call unanswered"))
