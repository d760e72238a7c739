"""Every encrypted column of the hub DB and the query store, registered for `hub keys rotate`.

The query store's read models keep an ID number, a phone or a bank account as an envelope
(``<name>_enc``) and a blind index (``<name>_bidx``), a person's address as an envelope only; the old
plaintext column stays (expand-only migrations) but is emptied and no longer written. The hub DB's account
phone likewise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import psycopg

from hub.crypto import keys, ring
from hub.crypto.fields import Keyring, Kind
from hub.crypto.rotation import HUB, QUERY, EncryptedColumn, register
from hub.crypto.sm import SealBroken

Row = dict[str, Any]


def _query(table: str, name: str, key: str, kind: Kind, *, indexed: bool = True) -> EncryptedColumn:
    return register(
        EncryptedColumn(
            f"public.{table}",
            f"{name}_enc",
            (key,),
            f"{table}.{name}",
            store=QUERY,
            kind=kind,
            index_column=f"{name}_bidx" if indexed else None,
            plaintext=name,
        )
    )


PERSON_ID_NUMBER = _query("person_overview", "id_number", "person_id", Kind.ID_NUMBER)
PERSON_PHONE = _query("person_overview", "phone", "person_id", Kind.PHONE)
# 通讯地址: personal data, sealed like the phone; nobody looks a person up by address, so no blind index.
PERSON_ADDRESS = _query("person_overview", "address", "person_id", Kind.TEXT, indexed=False)
# A unit's contact phone is often a landline written ``0531-86001234``: kept as written (TEXT), not digits only.
UNIT_CONTACT_PHONE = _query("unit_overview", "contact_phone", "unit_id", Kind.TEXT)
UNIT_BANK_ACCOUNT = _query("unit_overview", "bank_account", "unit_id", Kind.BANK_ACCOUNT)

ACCOUNT_PHONE = register(
    EncryptedColumn(
        "hub.account",
        "phone_enc",
        ("id",),
        "hub.account.phone",
        store=HUB,
        kind=Kind.PHONE,
        index_column="phone_bidx",
        plaintext="phone",
    )
)

# The SMS outbox's recipient and personalisation (hub DB), and its data step.
from hub.messaging import sealed as _sms_sealed  # noqa: E402

SMS_RECIPIENT = _sms_sealed.RECIPIENT
SMS_PERSONALISATION = _sms_sealed.PERSONALISATION

# Declaration payloads, their core commands and person-request payloads (hub DB), and their data step.
from hub.crypto import payloads as _payloads  # noqa: E402

DECLARATION_PAYLOAD = _payloads.DECLARATION
COMMAND_PAYLOAD = _payloads.COMMAND
PERSON_REQUEST_PAYLOAD = _payloads.PERSON_REQUEST

# Supporting documents (declaration attachments, objection evidence) in the hub DB, and their data step.
from hub.crypto import files as _files  # noqa: E402

ATTACHMENT_CONTENT = _files.ATTACHMENT
OBJECTION_FILE_DATA = _files.OBJECTION_FILE

# Read-model table -> its encrypted columns (readers reveal these, writers seal them).
BY_TABLE: dict[str, tuple[EncryptedColumn, ...]] = {
    "person_overview": (PERSON_ID_NUMBER, PERSON_PHONE, PERSON_ADDRESS),
    "unit_overview": (UNIT_CONTACT_PHONE, UNIT_BANK_ACCOUNT),
}


TABLES = {HUB: keys.HUB_TABLE, QUERY: keys.QUERY_TABLE}  # store -> its key table


def table_of(column: EncryptedColumn) -> str:
    """The key table of the database ``column`` lives in."""
    return TABLES[column.store]


def _envelopes(table: str, rows: Iterable[Row]) -> list[bytes | None]:
    return [bytes(r[c.column]) if r.get(c.column) is not None else None for r in rows for c in BY_TABLE.get(table, ())]


def open_value(keyring: Keyring | None, column: EncryptedColumn, envelope: Any, key_values: tuple[Any, ...]) -> str:
    """The value in ``envelope``; a missing keyring or a broken envelope raises ``SealBroken``."""
    if keyring is None:
        raise SealBroken(f"no keys to open {column.context_prefix}")
    return keyring.open(bytes(envelope), column.context(key_values))


def reveal_with(keyring: Keyring | None, table: str, rows: Iterable[Row]) -> None:
    """Put the decrypted values back under their plain names (``id_number``, ``phone``…), in place.

    The envelope and blind-index columns are removed from each row; a row without an envelope keeps what its
    plaintext column holds (a row the data step has not sealed yet) or None.
    """
    for row in rows:
        for column in BY_TABLE.get(table, ()):
            assert column.plaintext is not None
            if column.column not in row:
                continue
            envelope = row.pop(column.column)
            if column.index_column is not None:
                row.pop(column.index_column, None)
            if envelope is not None:
                key_values = tuple(row[k] for k in column.key_columns)
                row[column.plaintext] = open_value(keyring, column, envelope, key_values)
            else:
                row.setdefault(column.plaintext, None)


def reveal(conn: psycopg.Connection[Any], table: str, rows: list[Row]) -> list[Row]:
    """``reveal_with`` the keyring of the store ``conn`` reads; returns ``rows``."""
    if rows:
        reveal_with(ring.for_reading(conn, keys.QUERY_TABLE, _envelopes(table, rows)), table, rows)
    return rows


async def reveal_async(conn: psycopg.AsyncConnection[Any], table: str, rows: list[Row]) -> list[Row]:
    """``reveal`` on an async connection; returns ``rows``."""
    if rows:
        keyring = await ring.for_reading_async(conn, keys.QUERY_TABLE, _envelopes(table, rows))
        reveal_with(keyring, table, rows)
    return rows


def blind_index(conn: psycopg.Connection[Any], column: EncryptedColumn, value: str) -> bytes | None:
    """The blind index to look ``value`` up by in ``column`` (None: no keys yet, so nothing can match)."""
    keyring = ring.for_reading(conn, table_of(column))
    return keyring.blind_index(column.kind, value) if keyring is not None else None


async def blind_index_async(conn: psycopg.AsyncConnection[Any], column: EncryptedColumn, value: str) -> bytes | None:
    keyring = await ring.for_reading_async(conn, table_of(column))
    return keyring.blind_index(column.kind, value) if keyring is not None else None


def _open_rows(
    keyring: Keyring | None, column: EncryptedColumn, rows: list[Any], key_at: int, value_at: int
) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        if values[value_at] is not None:
            values[value_at] = open_value(keyring, column, values[value_at], (values[key_at],))
        out.append(tuple(values))
    return out


def open_column(
    conn: psycopg.Connection[Any], column: EncryptedColumn, rows: list[Any], *, key_at: int, value_at: int
) -> list[tuple[Any, ...]]:
    """Tuple rows with the envelope at ``value_at`` replaced by its value (the row key at ``key_at``)."""
    if not rows:
        return []
    keyring = ring.for_reading(conn, table_of(column), [r[value_at] for r in rows if r[value_at] is not None])
    return _open_rows(keyring, column, rows, key_at, value_at)


async def open_column_async(
    conn: psycopg.AsyncConnection[Any], column: EncryptedColumn, rows: list[Any], *, key_at: int, value_at: int
) -> list[tuple[Any, ...]]:
    """``open_column`` on an async connection."""
    if not rows:
        return []
    wanted = [r[value_at] for r in rows if r[value_at] is not None]
    keyring = await ring.for_reading_async(conn, table_of(column), wanted)
    return _open_rows(keyring, column, rows, key_at, value_at)


def seal_leftovers(conn: psycopg.Connection[Any], store: str, *, batch: int = 1000) -> int:
    """The data step of every encrypted column of ``store`` (HUB or QUERY): seal the plaintext left from before.

    Creates the store's keys if there are none. Commits (per batch); returns the values sealed.
    """
    from datetime import UTC, datetime

    from hub.crypto.rotation import DATA_STEPS, REGISTRY, seal_plaintext

    table = TABLES[store]
    keyring = keys.ensure(conn, ring.kek_of(conn, table), datetime.now(UTC), table)
    conn.commit()
    done = sum(seal_plaintext(conn, keyring, c, batch=batch) for c in REGISTRY if c.store == store)
    return done + sum(step(conn, keyring, batch) for step in DATA_STEPS.get(store, ()))


def rotate(
    conn: psycopg.Connection[Any],
    store: str,
    *,
    new_key: bool = True,
    batch: int = 1000,
    progress: Callable[[EncryptedColumn, int], None] | None = None,
) -> tuple[int, int, list[int]]:
    """Rotate the data key of ``store`` and re-encrypt its registered columns under the new one.

    With ``new_key`` false, only finish re-encrypting under the current key (resume). Returns the active key
    id, the values re-sealed and the old keys retired. Commits (per batch).
    """
    from datetime import UTC, datetime

    from hub.crypto.rotation import REGISTRY, keys_in_use, reencrypt

    table = TABLES[store]
    keys.ensure(conn, ring.kek(), datetime.now(UTC), table)
    if new_key:
        keys.rotate_data_key(conn, ring.kek(), datetime.now(UTC), table)
        conn.commit()
    keyring = keys.load(conn, ring.kek(), table)
    assert keyring is not None
    ring.forget()
    resealed = 0
    in_use: set[int] = {keyring.active_id}
    for column in REGISTRY:
        if column.store != store:
            continue
        step = (lambda n, c=column: progress(c, n)) if progress is not None else None
        resealed += reencrypt(conn, keyring, column, batch=batch, progress=step)
        in_use |= keys_in_use(conn, column)
    conn.rollback()
    retired = keys.retire_unused(conn, in_use, datetime.now(UTC), table)
    conn.commit()
    return keyring.active_id, resealed, retired
