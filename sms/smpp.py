"""The SMPP 3.4 transport around smpplib: transceiver binds with a send window, keep-alive and throttling.

smpplib encodes and decodes PDUs and owns the socket; it has no window, no response timeout and no
reconnect, so each bind here runs two threads: a sender that takes parts from the shared queue while the
window and the rate allow, and a reader that correlates responses by sequence number, answers the SMSC,
turns receipts into events, expires submits without a response and keeps the link alive.

A submit whose response never comes (timeout, or the connection dropped inside the window) may or may not
have reached the SMSC; it is reported as ``Unknown`` and never resent here. A submit_sm_resp that accepts a
part after its timeout (same connection, within one more response timeout) is reported as ``LateAccepted``:
the part is recorded as sent with the SMSC's message id, so its receipt still matches. THROTTLED and MSGQFUL
mean the SMSC refused the part, so it goes back to the front of the queue and the bind slows down.

A clean stop (``close``, on SIGTERM) takes no new message but first sends the remaining parts of every long
message already begun, for at most ``STOP_GRACE_SECONDS``, then lets the windows drain and unbinds: a clean
shutdown never cuts a long message in two unless the SMSC stops taking parts for that long.

smpplib makes and parses every PDU in Python objects, which costs more than the rest of the worker per
message; the two PDUs that make up nearly all of the traffic are therefore written here directly:
submit_sm (several per ``sendall`` when the window has room for them) and deliver_sm_resp (every receipt
of a committed batch in one ``sendall``), and submit_sm_resp and deliver_sm (the receipts, with the TLVs the
worker reads) are read without smpplib; a deliver_sm that reader refuses goes to smpplib. Everything else
(binds, unbind, enquire_link) still goes through smpplib.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from hub.config.sms import SmppSettings
from hub.ids import mask_phone
from sms import receipts
from sms.transport import (
    Accepted,
    Event,
    Incoming,
    LateAccepted,
    NotSent,
    OutPart,
    Receipt,
    Rejected,
    Unknown,
    _EventQueue,
)

log = logging.getLogger(__name__)


class _NoWireDumps(logging.Filter):
    """smpplib logs every PDU's bytes in hex at DEBUG, phone numbers and message texts (codes) in clear."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith((">>", "<<")))


# One logger for every smpplib client (it would make one per client object), without the wire dumps.
_WIRE_LOG = logging.getLogger("sms.smpp.client")
_WIRE_LOG.addFilter(_NoWireDumps())

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
GENERIC_NACK = 0x80000000
THROTTLED = 0x58
MSGQFUL = 0x14
SLOW_DOWN = {THROTTLED, MSGQFUL}
MAX_PAUSE = 10.0
# A clean stop sends the remaining parts of the long messages already begun for at most this long (seconds)
# before it unbinds; what is still queued then is reported NotSent. At the default 500 parts/s per bind the
# longest message (255 parts) needs about half a second, so only an SMSC that keeps refusing parts hits it.
STOP_GRACE_SECONDS = 10.0
_LINK_ERRORS = (OSError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError)


def encode_submit(sequence: int, part: OutPart) -> bytes:
    """submit_sm (SMPP 3.4 §4.4.1) for one part: ton 0/npi 0 source, ton 0/npi 1 (E.164) destination, no
    scheduling or validity period; the same bytes smpplib's ``make_pdu("submit_sm", …).generate()`` gives."""
    sm = part.short_message
    body = b"".join(
        (
            b"\x00\x00\x00",  # service_type "", source_addr_ton 0, source_addr_npi 0
            part.source.encode("ascii"),
            b"\x00\x00\x01",  # end of source_addr, dest_addr_ton 0, dest_addr_npi 1
            part.destination.encode("ascii"),
            # end of destination_addr, esm_class, protocol_id, priority_flag, schedule_delivery_time "",
            # validity_period "", registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id,
            # sm_length
            bytes(
                (
                    0,
                    part.esm_class,
                    0,
                    0,
                    0,
                    0,
                    1 if part.registered_delivery else 0,
                    0,
                    part.data_coding,
                    0,
                    len(sm),
                )
            ),
            sm,
        )
    )
    return HEADER.pack(HEADER.size + len(body), SUBMIT_SM, 0, sequence) + body


def encode_deliver_sm_resp(sequence: int) -> bytes:
    """deliver_sm_resp with status 0 and an empty (NUL) message_id."""
    return HEADER.pack(HEADER.size + 1, DELIVER_SM_RESP, 0, sequence) + b"\x00"


# Optional parameters of a deliver_sm read here (SMPP 3.4 §5.3.2); the others are skipped.
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427
TLV_RECEIPTED_MESSAGE_ID = 0x001E
_TLV = struct.Struct(">HH")


@dataclass(frozen=True)
class DeliverSm:
    """What the worker reads of a deliver_sm: a receipt (esm_class bit, TLVs, text form) or a reply."""

    sequence: int
    source_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    receipted_message_id: str | None = None
    message_state: int | None = None


def _cstring(body: bytes, offset: int, limit: int) -> tuple[bytes, int]:
    end = body.index(b"\x00", offset, offset + limit)  # ValueError when missing or too long
    return body[offset:end], end + 1


def parse_deliver_sm(pdu: bytes) -> DeliverSm:
    """A whole deliver_sm PDU (header included) read without smpplib. Raises ValueError on a malformed one
    (the caller then hands it to smpplib)."""
    length, command, _status, sequence = HEADER.unpack_from(pdu, 0)
    if command != DELIVER_SM or length != len(pdu):
        raise ValueError("not a whole deliver_sm")
    body = pdu[HEADER.size :]
    try:
        _, at = _cstring(body, 0, 6)  # service_type
        at += 2  # source_addr_ton, source_addr_npi
        source, at = _cstring(body, at, 21)
        at += 2  # dest_addr_ton, dest_addr_npi
        _, at = _cstring(body, at, 21)  # destination_addr
        esm_class = body[at]
        at += 3  # esm_class, protocol_id, priority_flag
        _, at = _cstring(body, at, 17)  # schedule_delivery_time
        _, at = _cstring(body, at, 17)  # validity_period
        data_coding = body[at + 2]  # after registered_delivery, replace_if_present_flag
        sm_length = body[at + 4]  # after sm_default_msg_id
        at += 5
        short_message = body[at : at + sm_length]
        if len(short_message) != sm_length:
            raise ValueError("short_message cut")
        at += sm_length
        receipted: str | None = None
        state: int | None = None
        payload: bytes | None = None
        while at < len(body):
            tag, size = _TLV.unpack_from(body, at)
            value = body[at + _TLV.size : at + _TLV.size + size]
            if len(value) != size:
                raise ValueError("optional parameter cut")
            at += _TLV.size + size
            if tag == TLV_RECEIPTED_MESSAGE_ID:
                receipted = value.split(b"\x00", 1)[0].decode("ascii", "replace")
            elif tag == TLV_MESSAGE_STATE and size == 1:
                state = value[0]
            elif tag == TLV_MESSAGE_PAYLOAD:
                payload = value
    except (IndexError, struct.error) as exc:
        raise ValueError("deliver_sm cut short") from exc
    return DeliverSm(
        sequence,
        source.decode("ascii", "replace"),
        esm_class,
        data_coding,
        short_message or payload or b"",
        receipted,
        state,
    )


def _deliver_from_smpplib(pdu: Any) -> DeliverSm:
    """The same fields from a deliver_sm smpplib parsed (the fallback for what ``parse_deliver_sm`` refuses)."""
    text = pdu.short_message or b""
    if isinstance(text, str):
        text = text.encode("latin-1", "replace")
    receipted = getattr(pdu, "receipted_message_id", None)
    if isinstance(receipted, bytes):
        receipted = receipted.decode("ascii", "replace")
    state = getattr(pdu, "message_state", None)
    return DeliverSm(
        int(pdu.sequence),
        _addr(pdu.source_addr),
        int(pdu.esm_class or 0),
        int(pdu.data_coding or 0),
        text,
        receipted or None,
        None if state is None else int(state),
    )


class _Ack:
    """Answers one deliver_sm on the connection it came on (``SmppTransport.confirm`` answers many at once)."""

    __slots__ = ("bind", "generation", "sequence")

    def __init__(self, bind: _Bind, generation: int, sequence: int) -> None:
        self.bind = bind
        self.generation = generation
        self.sequence = sequence

    def __call__(self) -> None:
        self.bind.acknowledge([self])


class _Sequences:
    """Thread-safe sequence numbers 1 … 0x7FFFFFFF for one bind."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = self._value % 0x7FFFFFFF + 1
            return self._value


class _Bind:
    def __init__(self, owner: SmppTransport, index: int) -> None:
        self.owner = owner
        self.cfg = owner.cfg
        self.name = f"bind{index}"
        self.pending: dict[int, tuple[OutPart, float]] = {}
        # Submits reported Unknown after their response timeout on the current connection: sequence → (part,
        # until when a late submit_sm_resp is still taken). Kept one more response timeout, then forgotten.
        self.expired: dict[int, tuple[OutPart, float]] = {}
        self.lock = threading.Lock()  # socket writes and ``pending``
        self.room = threading.Condition(self.lock)
        self.client: Any = None
        self.alive = False
        self.rate = self.cfg.rate_per_bind
        self.tokens = 1.0
        self.refilled = time.monotonic()
        self.paused_until = 0.0
        self.throttle_level = 0
        self.last_heard = 0.0
        self.enquire_deadline: float | None = None
        self.unbound = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"smpp-{self.name}", daemon=True)
        self.binds_made = 0
        self.sequences = _Sequences()

    # lifecycle -----------------------------------------------------------------------------------
    def run(self) -> None:
        delay = self.cfg.reconnect_min_seconds
        while not self.owner.stopping.is_set():
            reason = "connect failed"
            try:
                self._connect()
                delay = self.cfg.reconnect_min_seconds
                reason = self._session()
            except _LINK_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self._drop(reason)
            if self.owner.stopping.is_set():
                break
            log.warning("%s: link lost (%s); reconnecting in %.1f s", self.name, reason, delay)
            self.owner.stopping.wait(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.cfg.reconnect_max_seconds)

    def _connect(self) -> None:
        self.sequences = _Sequences()
        self.expired = {}  # sequence numbers start again on a new connection
        client = smpplib.client.Client(
            self.cfg.host,
            self.cfg.port,
            timeout=self.cfg.response_timeout_seconds,
            sequence_generator=self.sequences,
            allow_unknown_opt_params=True,
            logger_name=_WIRE_LOG.name,
        )
        client.connect()
        # Small PDUs both ways: without TCP_NODELAY, Nagle's algorithm holds a write back until the previous one
        # is acknowledged, and the peer's delayed ACK turns that into tens of milliseconds per exchange.
        client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.bind_transceiver(
                system_id=self.cfg.system_id,
                password=self.cfg.password.get_secret_value(),
                system_type=self.cfg.system_type,
            )
        except BaseException:
            client.disconnect()
            raise
        self.client = client
        self.alive = True
        self.last_heard = time.monotonic()
        self.enquire_deadline = None
        self.unbound.clear()
        self.binds_made += 1
        log.info("%s: bound transceiver to %s:%d", self.name, self.cfg.host, self.cfg.port)

    def _session(self) -> str:
        reader = threading.Thread(target=self._read_loop, name=f"smpp-{self.name}-read", daemon=True)
        reader.start()
        try:
            while self.alive and not self.owner.stopping.is_set():
                parts = self._next_parts()
                if parts:
                    self._send_submits(parts)
            if self.alive and self.owner.stopping.is_set():
                self._unbind()
        finally:
            self.alive = False
            reader.join(self.cfg.response_timeout_seconds + 2)
        return "closed" if self.owner.stopping.is_set() else "connection lost"

    def _drop(self, reason: str) -> None:
        """Close the socket; every submit still in the window becomes Unknown."""
        with self.lock:
            lost = list(self.pending.values())
            self.pending.clear()
            self.room.notify_all()
            client, self.client = self.client, None
            self.alive = False
        for part, _ in lost:
            self.owner.out.put(Unknown(part.key, reason, self.name))
        if client is not None:
            client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # else smpplib warns on every close
            with contextlib.suppress(OSError):
                client.disconnect()
            client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED

    def _unbind(self) -> None:
        """Wait (bounded) for the window to drain, then unbind; some SMSCs just close instead of answering."""
        deadline = time.monotonic() + self.cfg.response_timeout_seconds
        with self.lock:
            while self.pending and self.alive and time.monotonic() < deadline:
                self.room.wait(0.1)
            if not self.alive:
                return
            try:
                self.client.send_pdu(smpplib.smpp.make_pdu("unbind", client=self.client))
            except _LINK_ERRORS:
                return
        self.unbound.wait(min(self.cfg.response_timeout_seconds, 5.0))

    # sending -------------------------------------------------------------------------------------
    def _next_parts(self) -> list[OutPart]:
        """As many parts as the window, the rate and the queue allow (empty after a short wait when none)."""
        with self.lock:
            while len(self.pending) >= self.cfg.window and self.alive:
                self.room.wait(0.1)
                if self.owner.stopping.is_set():
                    return []
            room = self.cfg.window - len(self.pending)
        wait = self.paused_until - time.monotonic()
        if wait > 0:
            self.owner.stopping.wait(min(wait, 0.2))
            return []
        now = time.monotonic()
        self.tokens = min(max(self.rate / 20, 1.0), self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            time.sleep((1 - self.tokens) / self.rate)
            return []
        parts = self.owner.take(min(room, int(self.tokens)), 0.1)
        self.tokens -= len(parts)
        return parts

    def _send_submits(self, parts: list[OutPart]) -> None:
        with self.lock:
            if not self.alive:
                for part in reversed(parts):
                    self.owner.give_back(part)
                return
            deadline = time.monotonic() + self.cfg.response_timeout_seconds
            chunks = []
            for part in parts:
                sequence = self.sequences.next_sequence()
                self.pending[sequence] = (part, deadline)
                chunks.append(encode_submit(sequence, part))
            try:
                self.client._socket.sendall(b"".join(chunks))
            except (*_LINK_ERRORS, AttributeError):
                # A partial write may have reached the SMSC: the parts stay in the window and become Unknown.
                self.alive = False

    def acknowledge(self, acks: Sequence[_Ack]) -> None:
        """deliver_sm_resp for committed receipts, in one write; only on the connection they came on."""
        with self.lock:
            if self.client is None or not self.alive:
                return
            data = b"".join(encode_deliver_sm_resp(a.sequence) for a in acks if a.generation == self.binds_made)
            if data:
                with contextlib.suppress(*_LINK_ERRORS):
                    self.client._socket.sendall(data)

    # reading -------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buffer = bytearray()
        try:
            while self.alive:
                sock = self.client._socket if self.client else None
                if sock is None:
                    break
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable:
                    data = sock.recv(1 << 16)
                    if not data:
                        raise smpplib.exceptions.ConnectionError()
                    buffer += data
                    self._handle_all(buffer)
                self._housekeeping()
        except _LINK_ERRORS as exc:
            if self.alive and not self.owner.stopping.is_set():
                log.warning("%s: read failed: %s", self.name, type(exc).__name__)
        except (TimeoutError, ValueError):
            pass
        finally:
            with self.lock:
                self.alive = False
                self.room.notify_all()
            self.unbound.set()

    def _handle_all(self, buffer: bytearray) -> None:
        """Every complete PDU at the front of ``buffer`` (removed from it); submit_sm_resp without smpplib."""
        offset = 0
        responses: list[tuple[int, int, bytes]] = []
        delivers: list[bytes] = []
        others: list[bytes] = []
        while len(buffer) - offset >= HEADER.size:
            length, command, status, sequence = HEADER.unpack_from(buffer, offset)
            if length < HEADER.size or length > 1 << 16:
                raise smpplib.exceptions.PDUError("broken PDU length")
            if len(buffer) - offset < length:
                break
            if command in (SUBMIT_SM_RESP, GENERIC_NACK):
                body = bytes(buffer[offset + HEADER.size : offset + length])
                responses.append((sequence, status, body.split(b"\x00", 1)[0]))
            elif command == DELIVER_SM:
                delivers.append(bytes(buffer[offset : offset + length]))
            else:
                others.append(bytes(buffer[offset : offset + length]))
            offset += length
        del buffer[:offset]
        if offset == 0:
            return
        self.last_heard = time.monotonic()
        self.enquire_deadline = None
        if responses:
            self._on_submit_resps(responses)
        for raw in delivers:
            try:
                deliver = parse_deliver_sm(raw)
            except ValueError:  # smpplib decides (and raises on what it cannot read either)
                deliver = _deliver_from_smpplib(
                    smpplib.smpp.parse_pdu(raw, client=self.client, allow_unknown_opt_params=True)
                )
            self._on_deliver(deliver)
        for raw in others:
            self._handle(smpplib.smpp.parse_pdu(raw, client=self.client, allow_unknown_opt_params=True))

    def _handle(self, pdu: Any) -> None:
        command = pdu.command
        if command == "deliver_sm":
            self._on_deliver(_deliver_from_smpplib(pdu))
        elif command == "enquire_link":
            self._respond("enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self._respond("unbind_resp", pdu.sequence)
            self.alive = False
        elif command == "unbind_resp":
            self.unbound.set()
            self.alive = False
        elif command != "enquire_link_resp":
            log.info("%s: ignored %s", self.name, command)

    def _ack_later(self, sequence: int) -> _Ack:
        """deliver_sm_resp once the worker has committed what the deliver_sm said (same connection only)."""
        return _Ack(self, self.binds_made, sequence)

    def _respond(self, command: str, sequence: int) -> None:
        with self.lock:
            if self.client is None:
                return
            resp = smpplib.smpp.make_pdu(command, client=self.client)
            resp.sequence = sequence  # make_pdu ignores a given sequence
            self.client.send_pdu(resp)

    def _on_submit_resps(self, responses: list[tuple[int, int, bytes]]) -> None:
        """submit_sm_resp / generic_nack (sequence, status, message_id): one lock and one event batch."""
        with self.lock:
            entries = [(self.pending.pop(seq, None), seq, status, mid) for seq, status, mid in responses]
            self.room.notify_all()
        events: list[Event] = []
        for entry, sequence, status, raw in entries:
            if entry is None:
                late = self.expired.pop(sequence, None)
                if late is not None and status == 0:
                    # After its timeout (already reported Unknown): the SMSC took the part after all. Its message
                    # id is recorded so the receipt matches; the part is never sent again.
                    events.append(LateAccepted(late[0].key, raw.decode("ascii", "replace"), self.name))
                    log.info("%s: late accept seq=%d", self.name, sequence)
                else:
                    # A late refusal, or a sequence no longer known: the part stays unknown.
                    log.info("%s: late response seq=%d status=0x%x", self.name, sequence, status)
                continue
            part = entry[0]
            if status == 0:
                events.append(Accepted(part.key, raw.decode("ascii", "replace"), self.name))
                if self.throttle_level:
                    self.throttle_level -= 1
                if self.rate < self.cfg.rate_per_bind:
                    self.rate = min(self.cfg.rate_per_bind, self.rate * 1.05)
            elif status in SLOW_DOWN:
                self.owner.give_back(part)
                self.throttle_level += 1
                self.owner.throttled += 1
                self.rate = max(1.0, self.rate / 2)
                pause = min(MAX_PAUSE, self.cfg.throttle_pause_seconds * 2 ** (self.throttle_level - 1))
                self.paused_until = time.monotonic() + pause
                log.info("%s: SMSC status 0x%x; pausing %.2f s, rate %.0f/s", self.name, status, pause, self.rate)
            else:
                events.append(Rejected(part.key, status, self.name))
        self.owner.out.put_many(events)

    def _on_deliver(self, pdu: DeliverSm) -> None:
        text = pdu.short_message
        receipted = pdu.receipted_message_id
        if (pdu.esm_class & receipts.ESM_CLASS_RECEIPT) or receipted:
            parsed = receipts.parse(text, receipted, pdu.message_state)
            if parsed is None:
                log.warning("%s: unreadable receipt from %s", self.name, mask_phone(pdu.source_addr))
                self.acknowledge([self._ack_later(pdu.sequence)])
                return
            ack = self._ack_later(pdu.sequence)
            self.owner.out.put(Receipt(parsed.smpp_id, parsed.stat, parsed.error, ack))
            return
        body = text.decode("utf-16-be", "replace") if pdu.data_coding == 8 else text.decode("latin-1", "replace")
        self.owner.out.put(Incoming(pdu.source_addr, body, self._ack_later(pdu.sequence)))

    def _housekeeping(self) -> None:
        now = time.monotonic()
        expired: list[OutPart] = []
        with self.lock:
            for seq, (part, deadline) in list(self.pending.items()):
                if deadline < now:
                    del self.pending[seq]
                    expired.append(part)
                    # A late accept is taken for one more response timeout: a message resent by its job's
                    # policy after the Unknown is submitted anew and cannot itself be unknown before then.
                    self.expired[seq] = (part, now + self.cfg.response_timeout_seconds)
            if expired:
                self.room.notify_all()
            for seq, (_, until) in list(self.expired.items()):
                if until < now:
                    del self.expired[seq]
        for part in expired:
            self.owner.out.put(Unknown(part.key, "response timeout", self.name))
        if self.enquire_deadline is not None:
            if now > self.enquire_deadline:
                log.warning("%s: no answer to enquire_link", self.name)
                self.alive = False
        elif now - self.last_heard > self.cfg.enquire_link_seconds:
            with self.lock:
                if self.client is not None:
                    self.client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=self.client))
            self.enquire_deadline = now + self.cfg.response_timeout_seconds
            self.last_heard = now


def _split_begun(queue: Iterable[OutPart]) -> tuple[list[OutPart], list[OutPart]]:
    """(parts of messages of which a part has left the queue, parts of messages not begun), in queue order.

    A message's parts are queued together, so one with fewer parts queued than it has is begun: some part of
    it was taken by a bind (written to the SMSC, or in the window).
    """
    parts = list(queue)
    queued: collections.Counter[int] = collections.Counter(p.key[0] for p in parts)
    begun = [p for p in parts if queued[p.key[0]] < p.parts]
    not_begun = [p for p in parts if queued[p.key[0]] >= p.parts]
    return begun, not_begun


def _addr(value: Any) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")


class SmppTransport:
    """Several transceiver binds sharing one queue of parts; events arrive on one queue."""

    name = "smpp"

    def __init__(self, cfg: SmppSettings) -> None:
        self.cfg = cfg
        self.out = _EventQueue()
        self.stopping = threading.Event()
        self.throttled = 0
        self._queue: collections.deque[OutPart] = collections.deque()
        self._ready = threading.Condition()
        self._closing = False
        self._binds = [_Bind(self, i) for i in range(cfg.binds)]

    @property
    def capacity(self) -> int:
        return self.cfg.window * self.cfg.binds

    @property
    def binds_made(self) -> int:
        return sum(b.binds_made for b in self._binds)

    def start(self) -> None:
        for bind in self._binds:
            bind.thread.start()

    def submit(self, parts: Sequence[OutPart]) -> None:
        with self._ready:
            self._queue.extend(parts)
            self._ready.notify_all()

    def events(self, timeout: float) -> list[Event]:
        return self.out.drain(timeout)

    def confirm(self, events: Sequence[Event]) -> None:
        """Answer the committed receipts and incoming messages: one write per bind."""
        by_bind: dict[int, list[_Ack]] = {}
        for event in events:
            if isinstance(event, Receipt | Incoming) and event.ack is not None:
                if isinstance(event.ack, _Ack):
                    by_bind.setdefault(id(event.ack.bind), []).append(event.ack)
                else:
                    event.ack()
        for acks in by_bind.values():
            acks[0].bind.acknowledge(acks)

    def take(self, n: int, timeout: float) -> list[OutPart]:
        """Up to ``n`` parts from the front of the queue, waiting at most ``timeout`` for the first."""
        with self._ready:
            if not self._queue:
                self._ready.wait(timeout)
            queue = self._queue
            taken = [queue.popleft() for _ in range(min(n, len(queue)))]
            if self._closing and not queue:
                self._ready.notify_all()  # ``close`` waits for the queue to empty
            return taken

    def give_back(self, part: OutPart) -> None:
        with self._ready:
            self._queue.appendleft(part)
            self._ready.notify()

    def close(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop cleanly: messages not begun come back at once (NotSent); the remaining parts of the long messages
        already begun are still sent for at most ``grace`` seconds; then the windows drain (bounded), every bind
        unbinds and whatever is still queued comes back."""
        with self._ready:
            self._closing = True
            begun, not_begun = _split_begun(self._queue)
            self._queue = collections.deque(begun)
        # In one batch, so that every part of a message not begun is recorded at once (back to the queue).
        self.out.put_many([NotSent(part.key) for part in not_begun])
        deadline = time.monotonic() + grace
        with self._ready:
            while self._queue and time.monotonic() < deadline and any(b.thread.is_alive() for b in self._binds):
                self._ready.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        self.stopping.set()
        with self._ready:
            self._ready.notify_all()
        for bind in self._binds:
            if bind.thread.is_alive():
                bind.thread.join(self.cfg.response_timeout_seconds + 10)
        with self._ready:
            left = list(self._queue)
            self._queue.clear()
        self.out.put_many([NotSent(part.key) for part in left])
