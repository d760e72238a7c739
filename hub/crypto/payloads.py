"""JSON payloads sealed at rest: declarations, their core commands, person requests (and SMS codes' bindings).

A declaration's payload (增员/减员/信息变更/年度缴费工资/数据采集: ID numbers, names, phones, bank accounts),
the copy of it in the command sent to the core, and a person request's payload (a new mobile number, an
address) are kept as one SM4-GCM envelope of the whole JSON document each (``payload_enc``), bound to the
row's key: ``hub.declaration.payload:<id>``, ``hub.declaration_command.payload:<command_id>``,
``hub.person_request.payload:<id>``. An envelope copied into another row does not open. A 10,000-row wage
declaration is one envelope, not one per row.

What the code filters or counts on without showing the data is kept beside it in plain (a declaration's
``summary``: the year of a wage declaration and the number of rows, staff and retirees); the type, unit,
region and state were plain columns already. Nobody looks a declaration or a request up by ID number or
phone, so there is no blind index.

Readers open an envelope only where the data is shown or sent: a declaration's payload is opened the first
time ``Declaration.payload`` is read (a list page never opens one), a command when the outbox worker builds
the call to the core. The old ``payload`` columns stay for the previous release (expand-only migration
``0025_sealed_payloads``); new rows leave them null, and ``seal_leftovers`` (the data step, run at web start
and by ``hub keys seal``) seals and empties the old rows. ``hub keys rotate`` re-seals the envelopes (the
columns are registered) and ``hub keys rewrap`` needs nothing per column.

An SMS code's binding (what the code was asked for: ``account:<id>``, or for a code sent to a new number the
person and that number) is sealed the same way (``binding_enc``, bound to the ticket); codes are matched by
ticket, never by binding.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hub.crypto import keys, ring
from hub.crypto.fields import Keyring, Kind
from hub.crypto.rotation import HUB, EncryptedColumn, register, register_data_step, seal_in_batches
from hub.crypto.sm import SealBroken

Conn = psycopg.Connection[Any]
Document = dict[str, Any]


def _document(table: str, key: str) -> EncryptedColumn:
    return register(EncryptedColumn(f"hub.{table}", "payload_enc", (key,), f"hub.{table}.payload", kind=Kind.DOCUMENT))


DECLARATION = _document("declaration", "id")
COMMAND = _document("declaration_command", "command_id")
PERSON_REQUEST = _document("person_request", "id")
# What an SMS code is bound to (``person:phone:…`` for a code sent to a new number): text, sealed to the ticket.
BINDING = register(
    EncryptedColumn(
        "hub.verification_code", "binding_enc", ("ticket",), "hub.verification_code.binding", kind=Kind.DOCUMENT
    )
)

# Single phone numbers kept by other areas: a transfer application's 联系电话 (shown to the staff handling it)
# and the number a push notice's held SMS goes to (until the quiet hours end). The generic data step
# (``rotation.seal_plaintext``) seals what the old plaintext columns still hold.
TRANSFER_CONTACT_PHONE = register(
    EncryptedColumn(
        "hub.person_transfer",
        "contact_phone_enc",
        ("id",),
        "hub.person_transfer.contact_phone",
        kind=Kind.PHONE,
        plaintext="contact_phone",
    )
)
PUSH_SMS_PHONE = register(
    EncryptedColumn(
        "hub.push_notice", "sms_phone_enc", ("id",), "hub.push_notice.sms_phone", kind=Kind.PHONE, plaintext="sms_phone"
    )
)

# What a declaration's summary keeps: scalar fields copied as they are, list fields counted.
SUMMARY_SCALARS = ("year",)
SUMMARY_COUNTS = ("rows", "staff", "retirees")


def dumps(document: Document) -> str:
    """The JSON text that is sealed (keys sorted, so the same content gives the same text)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def summary(document: Document) -> Document:
    """The non-sensitive facts of a declaration's payload that lists and reminders use."""
    out: Document = {k: document[k] for k in SUMMARY_SCALARS if k in document}
    out |= {k: len(document[k]) for k in SUMMARY_COUNTS if isinstance(document.get(k), list)}
    return out


def for_writing(conn: Conn) -> Keyring:
    """The hub DB's keyring to seal with (its first keys are made in the caller's transaction). Never commits."""
    return ring.for_writing(conn, keys.HUB_TABLE)


def seal(keyring: Keyring, column: EncryptedColumn, key: Any, document: Document) -> bytes:
    """The envelope of ``document`` in the row whose key is ``key``."""
    return keyring.seal(Kind.DOCUMENT, dumps(document), column.context((key,)))


def open_document(keyring: Keyring | None, column: EncryptedColumn, key: Any, envelope: Any) -> Document:
    """The document in ``envelope`` (``SealBroken``: another row's envelope, changed bytes, no keys)."""
    if keyring is None:
        raise SealBroken(f"no keys to open {column.context_prefix}")
    value = json.loads(keyring.open(bytes(envelope), column.context((key,))))
    if not isinstance(value, dict):
        raise SealBroken(f"{column.context_prefix} is not a JSON object")
    return value


def opened(conn: Conn, column: EncryptedColumn, key: Any, envelope: Any, plain: Any = None) -> Document:
    """The payload of one row: its envelope opened, or the plaintext of a row the data step has not sealed."""
    if envelope is None:
        return dict(plain) if plain is not None else {}
    return open_document(ring.for_reading(conn, keys.HUB_TABLE, [bytes(envelope)]), column, key, envelope)


class Lazy:
    """A payload opened on first use (then kept): lists carry it unopened."""

    __slots__ = ("_column", "_envelope", "_key", "_keyring", "_value")

    def __init__(self, conn: Conn, column: EncryptedColumn, key: Any, envelope: Any, plain: Any = None) -> None:
        self._column, self._key = column, key
        self._envelope = bytes(envelope) if envelope is not None else None
        self._value: Document | None = None if envelope is not None else (dict(plain) if plain is not None else {})
        # The keyring is taken now (cached per database, no query unless an unknown key id shows up), so
        # opening later needs no connection.
        self._keyring = ring.for_reading(conn, keys.HUB_TABLE, [self._envelope]) if envelope is not None else None

    def get(self) -> Document:
        if self._value is None:
            self._value = open_document(self._keyring, self._column, self._key, self._envelope)
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lazy) and self.get() == other.get()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Lazy(<sealed payload>)"


# Writers -------------------------------------------------------------------------------------------


def declaration_values(conn: Conn, declaration_id: int, document: Document) -> dict[str, Any]:
    """The columns a declaration's payload is written to (for an insert or ``records.update``)."""
    envelope = seal(for_writing(conn), DECLARATION, declaration_id, document)
    return {"payload": None, "payload_enc": envelope, "summary": Jsonb(summary(document))}


def command_envelope(conn: Conn, command_id: uuid.UUID, document: Document) -> bytes:
    return seal(for_writing(conn), COMMAND, command_id, document)


def request_envelope(conn: Conn, request_id: int, document: Document) -> bytes:
    return seal(for_writing(conn), PERSON_REQUEST, request_id, document)


def seal_value(conn: Conn, column: EncryptedColumn, key: Any, value: str | None) -> bytes | None:
    """The envelope of one value of ``column`` in the row ``key`` (None for no value). Never commits."""
    return for_writing(conn).seal(column.kind, value, column.context((key,))) if value is not None else None


def open_value(conn: Conn, column: EncryptedColumn, key: Any, envelope: Any, plain: Any = None) -> str | None:
    """One value of ``column``: its envelope opened, or the plaintext of a row not sealed yet (or None)."""
    if envelope is None:
        return None if plain is None else str(plain)
    keyring = ring.for_reading(conn, keys.HUB_TABLE, [bytes(envelope)])
    if keyring is None:
        raise SealBroken(f"no keys to open {column.context_prefix}")
    return keyring.open(bytes(envelope), column.context((key,)))


def binding_envelope(conn: Conn, ticket: str, binding: str) -> bytes:
    """The sealed binding of the code behind ``ticket``."""
    return for_writing(conn).seal(Kind.DOCUMENT, binding, BINDING.context((ticket,)))


def open_binding(conn: Conn, ticket: str, envelope: Any, plain: Any = None) -> str:
    """The binding of the code behind ``ticket`` (the plaintext of a row the data step has not sealed yet)."""
    if envelope is None:
        if plain is None:
            raise SealBroken(f"code {ticket[:4]}… has no binding")
        return str(plain)
    keyring = ring.for_reading(conn, keys.HUB_TABLE, [bytes(envelope)])
    if keyring is None:
        raise SealBroken("no keys to open hub.verification_code.binding")
    return keyring.open(bytes(envelope), BINDING.context((ticket,)))


# The data step -------------------------------------------------------------------------------------


def _step(
    conn: Conn, keyring: Keyring, batch: int, column: EncryptedColumn, extra: Callable[[Document], tuple[Any, ...]]
) -> int:
    sets = "payload_enc = %s, payload = null" + (", summary = %s" if column is DECLARATION else "")

    def sealed(row_key: Any, payload: Any) -> tuple[Any, ...]:
        document = payload if isinstance(payload, dict) else json.loads(payload)
        return (seal(keyring, column, row_key, document), *extra(document))

    return seal_in_batches(conn, column.table, column.key_columns[0], "payload", sets, batch, sealed)


def seal_leftovers(conn: Conn, keyring: Keyring, batch: int = 1000) -> int:
    """Seal what the old ``payload`` columns still hold and empty them, in batches; returns the rows sealed.

    Commits per batch; safe to run again and beside running writers (``for update skip locked``).
    """
    done = _step(conn, keyring, batch, DECLARATION, lambda d: (Jsonb(summary(d)),))
    done += _step(conn, keyring, batch, COMMAND, lambda d: ())
    done += _step(conn, keyring, batch, PERSON_REQUEST, lambda d: ())
    return done + seal_in_batches(
        conn, "hub.verification_code", "ticket", "binding", "binding_enc = %s, binding = null", batch,
        lambda ticket, binding: (keyring.seal(Kind.DOCUMENT, str(binding), BINDING.context((ticket,))),),
    )  # fmt: skip


register_data_step(HUB, seal_leftovers)
