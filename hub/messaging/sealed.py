"""The SMS outbox's sealed columns: the recipient and the personalisation of every message, at rest.

A message keeps its number as an SM4-GCM envelope bound to the message id (``recipient_enc``) plus two
HMAC-SM3 blind indexes of the normalised number: the number itself (``recipient_bidx``: the per-number
limits, the opt-out list, the concatenation counter and a job's uniqueness) and its prefix, the number minus
its last four digits (``recipient_pidx``: the per-prefix abuse limit). The personalisation (names, amounts)
is an envelope of its JSON text (``personalisation_enc``). The worker opens both only when it builds the
submit_sm; receipts carry the SMSC's message id, never the number.

The old plaintext columns (``recipient``, ``personalisation``, and the ``body`` once written at claim) stay
for the previous release during a rolling deploy (expand-only migration ``0022_sms_sealed``) and are emptied
by ``seal_leftovers``, the data step run at web start, at ``hub sms run`` start and by ``hub keys seal``.
The opt-out list and the concatenation counters, keyed by the number itself before, move to tables keyed by
the blind index (``hub.sms_opt_out_bidx``, ``hub.sms_concat_ref_bidx``) in the same step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from hub.crypto import keys, ring
from hub.crypto.fields import Keyring, Kind
from hub.crypto.rotation import HUB, EncryptedColumn, register, register_data_step
from hub.crypto.sm import SealBroken

Conn = psycopg.Connection[Any]

RECIPIENT = register(
    EncryptedColumn(
        "hub.sms_message",
        "recipient_enc",
        ("id",),
        "hub.sms_message.recipient",
        store=HUB,
        kind=Kind.PHONE,
        index_column="recipient_bidx",
    )
)
PERSONALISATION = register(
    EncryptedColumn(
        "hub.sms_message",
        "personalisation_enc",
        ("id",),
        "hub.sms_message.personalisation",
        store=HUB,
        kind=Kind.DOCUMENT,
    )
)

Sealed = tuple[bytes, bytes, bytes, bytes]  # recipient_enc, recipient_bidx, recipient_pidx, personalisation_enc


def for_writing(conn: Conn) -> Keyring:
    """The hub DB's keyring to seal with (its first keys are made in the caller's transaction). Never commits."""
    return ring.for_writing(conn, keys.HUB_TABLE)


def for_reading(conn: Conn, envelopes: Iterable[bytes | None] = ()) -> Keyring | None:
    """The hub DB's keyring holding the keys of ``envelopes`` (None: no keys yet)."""
    return ring.for_reading(conn, keys.HUB_TABLE, envelopes)


def number_index(keyring: Keyring, phone: str) -> bytes:
    return keyring.blind_index(Kind.PHONE, phone)


def prefix_index(keyring: Keyring, phone: str) -> bytes:
    return keyring.blind_index(Kind.PHONE_PREFIX, phone)


def document(personalisation: dict[str, Any]) -> str:
    return json.dumps(personalisation, ensure_ascii=False, sort_keys=True)


def seal(keyring: Keyring, message_id: int, phone: str, personalisation: dict[str, Any]) -> Sealed:
    """The sealed columns of message ``message_id`` to ``phone``."""
    return (
        keyring.seal(Kind.PHONE, phone, RECIPIENT.context((message_id,))),
        number_index(keyring, phone),
        prefix_index(keyring, phone),
        keyring.seal(Kind.DOCUMENT, document(personalisation), PERSONALISATION.context((message_id,))),
    )


def next_ids(conn: Conn, n: int) -> list[int]:
    """``n`` message ids taken from the table's sequence (an envelope is bound to its row before the insert)."""
    if n <= 0:
        return []
    rows = conn.execute(
        "select nextval(pg_get_serial_sequence('hub.sms_message', 'id')) from generate_series(1, %s)", (n,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def open_recipient(keyring: Keyring | None, message_id: int, envelope: Any, plain: Any = None) -> str:
    """The number of message ``message_id``: its envelope opened, or the plaintext of a row not sealed yet.

    Raises ``SealBroken`` when the envelope does not open (another row's envelope, changed bytes, no keys).
    """
    if envelope is None:
        if plain is None:
            raise SealBroken(f"message {message_id} has no recipient")
        return str(plain)
    if keyring is None:
        raise SealBroken("no keys to open hub.sms_message.recipient")
    return keyring.open(bytes(envelope), RECIPIENT.context((message_id,)))


def open_personalisation(keyring: Keyring | None, message_id: int, envelope: Any, plain: Any = None) -> dict[str, str]:
    """The personalisation of message ``message_id`` (``SealBroken`` as ``open_recipient``)."""
    if envelope is None:
        data = json.loads(plain) if isinstance(plain, str) else (plain or {})
    else:
        if keyring is None:
            raise SealBroken("no keys to open hub.sms_message.personalisation")
        data = json.loads(keyring.open(bytes(envelope), PERSONALISATION.context((message_id,))))
    return {str(k): str(v) for k, v in dict(data).items()}


def messages(conn: Conn, where: str = "true", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Messages with their number and personalisation opened (tests, support tools): every column of
    ``hub.sms_message`` matching ``where`` (SQL over its columns), in id order, ``recipient`` and
    ``personalisation`` holding the opened values. Not for the worker's hot path."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(f"select * from hub.sms_message where {where} order by id", params).fetchall()
    keyring = for_reading(conn, [r["recipient_enc"] for r in rows] + [r["personalisation_enc"] for r in rows])
    for row in rows:
        row["recipient"] = open_recipient(keyring, row["id"], row["recipient_enc"], row["recipient"])
        row["personalisation"] = open_personalisation(
            keyring, row["id"], row["personalisation_enc"], row["personalisation"]
        )
    return rows


def seal_leftovers(conn: Conn, keyring: Keyring, batch: int = 1000) -> int:
    """The data step: seal what the plaintext columns of the SMS tables still hold, in batches.

    Messages get their envelopes and blind indexes and lose ``recipient``, ``personalisation`` and ``body``;
    opt-outs and concatenation counters move to the tables keyed by the blind index. Commits per batch; safe
    to run again and beside a running worker (``for update skip locked``). Returns the rows sealed or moved.
    """
    done = 0
    while True:
        rows = conn.execute(
            "select id, recipient, personalisation from hub.sms_message where recipient is not null "
            "order by id limit %s for update skip locked",
            (batch,),
        ).fetchall()
        if not rows:
            break
        params = []
        for message_id, recipient, personalisation in rows:
            values = personalisation if isinstance(personalisation, dict) else json.loads(personalisation or "{}")
            params.append((*seal(keyring, int(message_id), str(recipient), values), int(message_id)))
        with conn.cursor() as cur:
            cur.executemany(
                "update hub.sms_message set recipient_enc = %s, recipient_bidx = %s, recipient_pidx = %s, "
                "personalisation_enc = %s, recipient = null, personalisation = null, body = null where id = %s",
                params,
            )
        conn.commit()
        done += len(rows)
    done += _move_to_index(conn, keyring, batch, "sms_opt_out", "sms_opt_out_bidx", ("created_at", "source"))
    done += _move_to_index(conn, keyring, batch, "sms_concat_ref", "sms_concat_ref_bidx", ("last_ref",))
    conn.commit()
    return done


def _move_to_index(conn: Conn, keyring: Keyring, batch: int, source: str, target: str, columns: tuple[str, ...]) -> int:
    """Move the rows of ``hub.<source>`` keyed by the number to ``hub.<target>`` keyed by its blind index.

    Deletes and inserts in batches, each committed (``for update skip locked``: beside a running worker); a
    row already moved is kept (``on conflict do nothing``). Returns the rows moved.
    """
    rest = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    take = sql.SQL(
        "delete from hub.{source} where recipient in (select recipient from hub.{source} "
        "order by recipient limit %s for update skip locked) returning recipient, {rest}"
    ).format(source=sql.Identifier(source), rest=rest)
    put = sql.SQL(
        "insert into hub.{target} (recipient_bidx, {rest}) values (%s, {values}) on conflict do nothing"
    ).format(target=sql.Identifier(target), rest=rest, values=sql.SQL(", ").join([sql.Placeholder()] * len(columns)))
    done = 0
    while True:
        moved = conn.execute(take, (batch,)).fetchall()
        if not moved:
            return done
        with conn.cursor() as cur:
            cur.executemany(put, [(number_index(keyring, str(r[0])), *r[1:]) for r in moved])
        conn.commit()
        done += len(moved)


def seal_now(conn: Conn, batch: int = 1000) -> int:
    """The SMS data step on its own (``hub sms run`` at start), creating the hub DB's keys if there are none."""
    keyring = keys.ensure(conn, ring.kek_of(conn, keys.HUB_TABLE), datetime.now(UTC), keys.HUB_TABLE)
    conn.commit()
    return seal_leftovers(conn, keyring, batch)


register_data_step(HUB, seal_leftovers)
