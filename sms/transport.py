"""What every transport offers the worker, and the two development transports (file and console).

A transport takes message parts (one submit_sm each) and reports what became of them as events. It
queues internally and never blocks the caller; the worker keeps at most ``capacity`` parts in flight.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO

from hub.ids import mask_phone
from hub.redact import redact

log = logging.getLogger(__name__)

PartKey = tuple[int, int]  # (message id, segment number from 1)


@dataclass(frozen=True)
class OutPart:
    key: PartKey
    destination: str
    source: str
    short_message: bytes
    esm_class: int
    data_coding: int
    registered_delivery: bool
    parts: int
    body: str  # the whole signed text, for the development transports


@dataclass(frozen=True)
class Accepted:
    key: PartKey
    smpp_id: str
    bind: str


@dataclass(frozen=True)
class LateAccepted:
    """An accept that came after the part was reported Unknown (its response timed out): the part reached the
    SMSC under ``smpp_id``; it is recorded as sent (never sent again) so its receipt matches."""

    key: PartKey
    smpp_id: str
    bind: str


@dataclass(frozen=True)
class Rejected:
    key: PartKey
    command_status: int
    bind: str


@dataclass(frozen=True)
class Unknown:
    """The part may or may not have reached the SMSC (response timeout, connection lost in the window)."""

    key: PartKey
    reason: str
    bind: str


@dataclass(frozen=True)
class Receipt:
    smpp_id: str
    stat: str
    error: str | None
    # Answers the SMSC's deliver_sm; called only after the receipt is committed, so a crash before the
    # commit makes the SMSC deliver it again instead of losing it.
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class NotSent:
    """The part never left (the transport closed first): safe to send again."""

    key: PartKey


@dataclass(frozen=True)
class Incoming:
    """A mobile-originated message (e.g. the reply R that opts out)."""

    source: str
    text: str
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)


Event = Accepted | LateAccepted | Rejected | Unknown | Receipt | NotSent | Incoming


class Transport(Protocol):
    name: str

    @property
    def capacity(self) -> int: ...

    def start(self) -> None: ...

    def submit(self, parts: Sequence[OutPart]) -> None: ...

    def events(self, timeout: float) -> list[Event]: ...

    def confirm(self, events: Sequence[Event]) -> None:
        """Answer the peer for every receipt and incoming message of ``events`` (called after their commit)."""

    def close(self) -> None: ...


def confirm(events: Sequence[Event]) -> None:
    """Answer the SMSC for every committed receipt and incoming message."""
    for event in events:
        if isinstance(event, Receipt | Incoming) and event.ack is not None:
            event.ack()


class _EventQueue:
    """Events from the transport's threads to the worker's recorder, taken all at once."""

    def __init__(self) -> None:
        self._items: collections.deque[Event] = collections.deque()
        self._ready = threading.Condition()

    def put(self, event: Event) -> None:
        with self._ready:
            self._items.append(event)
            self._ready.notify()

    def put_many(self, events: Sequence[Event]) -> None:
        if events:
            with self._ready:
                self._items.extend(events)
                self._ready.notify()

    def drain(self, timeout: float) -> list[Event]:
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            out = list(self._items)
            self._items.clear()
        return out


class _LocalTransport:
    """Accepts every part at once and reports it delivered: the file and console transports."""

    name = "local"

    def __init__(self) -> None:
        self._events = _EventQueue()
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return 256

    def start(self) -> None:
        pass

    def submit(self, parts: Sequence[OutPart]) -> None:
        with self._lock:
            for part in parts:
                if part.key[1] == 1:
                    self._emit(part)
                smpp_id = uuid.uuid4().hex
                self._events.put(Accepted(part.key, smpp_id, self.name))
                if part.registered_delivery:
                    self._events.put(Receipt(smpp_id, "DELIVRD", "000"))
            self._flush()

    def events(self, timeout: float) -> list[Event]:
        return self._events.drain(timeout)

    def confirm(self, events: Sequence[Event]) -> None:
        confirm(events)

    def close(self) -> None:
        pass

    def _emit(self, part: OutPart) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        pass


class FileTransport(_LocalTransport):
    """One JSON line per message in ``path`` (the embedded demo reads verification codes from it)."""

    name = "file"

    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = path.open("a", encoding="utf-8")

    def _emit(self, part: OutPart) -> None:
        line = {
            "at": datetime.now(UTC).isoformat(),
            "message_id": part.key[0],
            "to": part.destination,
            "from": part.source,
            "parts": part.parts,
            "text": part.body,
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")

    def _flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ConsoleTransport(_LocalTransport):
    """Logs each message with the phone and every digit run masked (codes never reach a log)."""

    name = "console"

    def _emit(self, part: OutPart) -> None:
        log.info("SMS to %s (%d parts): %s", mask_phone(part.destination), part.parts, redact(part.body))
