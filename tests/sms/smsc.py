"""A real SMPP 3.4 peer for the tests: an SMSC on loopback built on smpp34, behind a cuttable TCP proxy.

It accepts every submit (counting each one), sends delivery receipts from a separate task (text form and
TLVs, retried on the next bind when a session dies), rejects the next submits with THROTTLED or MSGQFUL
on demand, fails destinations with a chosen prefix (receipt UNDELIV), can hold responses (a window that
never answers, or answers late) and can cut every client connection (the proxy drops the TCP connections).

smpp34's quirks, handled here: it accepts any bind, may close instead of answering unbind, answers out of
order, and has a small default inbound capacity (raised here).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import smpp34
from smpp34 import _smpp34

from sms.text import decode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Submit:
    destination: str
    text: str
    udh: tuple[int, int, int] | None
    message_id: str
    registered_delivery: int


@dataclass
class _Receipt:
    destination: str
    source: str
    message_id: str
    stat: str


@dataclass
class Smsc:
    receipts: bool = True
    fail_prefix: str | None = None
    duplicate_receipts: bool = False
    receipt_delay: float = 0.0
    receipt_filter: Any = None  # Submit -> bool: which accepted submits get a receipt
    receipt_senders: int = 128  # deliver_sm receipts in flight at once (the SMSC's own window towards the client)
    submits: list[Submit] = field(default_factory=list)
    rejected: int = 0
    binds: int = 0

    def __post_init__(self) -> None:
        self.port = 0
        self._smsc_port = free_port()
        self._lock = threading.Lock()
        self._throttle: list[int] = []
        self._hold = 0
        self._held: list[smpp34.SubmitSmEvent] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-smsc", daemon=True)
        self._sessions: dict[str, smpp34.Esme] = {}
        self._receipt_queue: asyncio.Queue[_Receipt] | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._counter = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: Any = None
        self._proxy: asyncio.Server | None = None

    # control from the test thread ----------------------------------------------------------------
    def start(self) -> Smsc:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)

    def throttle(self, n: int, status: int = 0x58) -> None:
        """Reject the next ``n`` submits with ``status`` (THROTTLED 0x58 or MSGQFUL 0x14)."""
        with self._lock:
            self._throttle += [status] * n

    def hold(self, n: int) -> None:
        """Leave the next ``n`` submits unanswered (they stay in the client's window)."""
        with self._lock:
            self._hold += n

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def release(self) -> None:
        """Accept the held submits now (late submit_sm_resp), counted and receipted like any other."""

        async def accept_held() -> None:
            with self._lock:
                held, self._held = self._held, []
            for event in held:
                self._accept(event)

        asyncio.run_coroutine_threadsafe(accept_held(), self._loop).result(15)

    def cut(self) -> None:
        """Drop every client connection (TCP close through the proxy); held submits are never answered."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(15)

    def snapshot(self) -> list[Submit]:
        with self._lock:
            return list(self.submits)

    def counts(self) -> Counter[tuple[str, str, int]]:
        """Accepted submits per (destination, text, segment number)."""
        return Counter((s.destination, s.text, s.udh[2] if s.udh else 1) for s in self.snapshot())

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    # inside the loop -----------------------------------------------------------------------------
    async def _start(self) -> None:
        self._receipt_queue = asyncio.Queue()
        self._server = smpp34.Server("127.0.0.1", self._smsc_port, system_id="TESTSMSC", inbound_capacity=65536)
        await self._server.start()
        self._proxy = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        self.port = int(self._proxy.sockets[0].getsockname()[1])
        # several senders: a window of deliver_sm in flight, as a real SMSC keeps
        self._tasks = [asyncio.ensure_future(self._serve())]
        self._tasks += [asyncio.ensure_future(self._deliver_receipts()) for _ in range(self.receipt_senders)]

    async def _stop(self) -> None:
        await self._cut()
        for task in self._tasks:
            task.cancel()
        if self._proxy is not None:
            self._proxy.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.stop(), 5)

    async def _cut(self) -> None:
        with self._lock:
            self._held.clear()
        for writer in list(self._conns):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._conns.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._smsc_port)
        self._conns.update({writer, up_writer})

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._conns.discard(writer)
        self._conns.discard(up_writer)

    async def _serve(self) -> None:
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self._sessions[event.session_id] = event
                self.binds += 1
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._on_submit(event)

    def _on_submit(self, event: smpp34.SubmitSmEvent) -> None:
        with self._lock:
            if self._throttle:
                self.rejected += 1
                event.reject(self._throttle.pop(0))
                return
            if self._hold > 0:
                self._hold -= 1
                self._held.append(event)  # answered only by ``release``; dropped at the cut
                return
        self._accept(event)

    def _accept(self, event: smpp34.SubmitSmEvent) -> None:
        with self._lock:
            self._counter += 1
            message_id = f"{self._counter:08x}"
            body, udh = decode(bytes(event.short_message), event.esm_class)
            self.submits.append(Submit(event.destination_addr, body, udh, message_id, event.registered_delivery))
        event.accept(message_id)
        wanted = self.receipt_filter is None or self.receipt_filter(self.submits[-1])
        if self.receipts and wanted and event.registered_delivery and self._receipt_queue is not None:
            fail = self.fail_prefix is not None and event.destination_addr.startswith(self.fail_prefix)
            receipt = _Receipt(event.destination_addr, event.source_addr, message_id, "UNDELIV" if fail else "DELIVRD")
            self._receipt_queue.put_nowait(receipt)
            if self.duplicate_receipts:
                self._receipt_queue.put_nowait(receipt)

    async def _deliver_receipts(self) -> None:
        assert self._receipt_queue is not None
        while True:
            receipt = await self._receipt_queue.get()
            if self.receipt_delay:
                await asyncio.sleep(self.receipt_delay)
            while not await self._send_receipt(receipt):
                await asyncio.sleep(0.1)  # no live session: store and forward on the next bind

    async def _send_receipt(self, r: _Receipt) -> bool:
        now = datetime.now(UTC).strftime("%y%m%d%H%M")
        text = (
            f"id:{r.message_id} sub:001 dlvrd:{'001' if r.stat == 'DELIVRD' else '000'} submit date:{now} "
            f"done date:{now} stat:{r.stat} err:{'000' if r.stat == 'DELIVRD' else '001'} text:"
        ).encode()
        state = {"DELIVRD": 2, "UNDELIV": 5}[r.stat]
        tlvs = [
            smpp34.Tlv(_smpp34.TLV_RECEIPTED_MESSAGE_ID, r.message_id.encode() + b"\0"),
            smpp34.Tlv(_smpp34.TLV_MESSAGE_STATE, bytes([state])),
        ]
        for session_id, esme in list(self._sessions.items()):
            try:
                resp = await asyncio.wait_for(
                    esme.deliver_sm(r.source, text, source_addr=r.destination, esm_class=4, tlvs=tlvs), 5
                )
            except Exception:
                self._sessions.pop(session_id, None)
                continue
            if resp.is_success:
                return True
        return False
