"""Accounts in the hub DB: persons, unit operators and staff (SQL and the account record).

Persons are found by a blind index (HMAC) of their document number, never by the number itself.
The phone SMS codes go to is kept as an SM4-GCM envelope with an HMAC-SM3 blind index
(``hub.crypto.columns.ACCOUNT_PHONE``); every read and write of it goes through this module.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.access.subject import StaffRole, SubjectKind
from hub.crypto import keys, ring
from hub.crypto.columns import ACCOUNT_PHONE, open_value
from hub.crypto.fields import Keyring
from hub.identity.crypto import keyed_hash


@dataclass(frozen=True)
class Account:
    id: str
    kind: SubjectKind
    login: str
    display_name: str
    password_hash: str
    password_changed_at: datetime
    status: str
    phone: str | None = None
    person_id: int | None = None
    unit_id: int | None = None
    unit_admin: bool = False
    totp_secret: bytes | None = None
    region_codes: frozenset[str] = frozenset()
    roles: frozenset[StaffRole] = frozenset()
    # An administrator issued the password: it must be changed at the next login and stops working at
    # ``password_expires_at`` (see ``hub.identity.password_change``).
    password_must_change: bool = False
    password_expires_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def temporary_password_expired(self, now: datetime) -> bool:
        return self.password_must_change and self.password_expires_at is not None and self.password_expires_at <= now


def person_login(hmac_key: str, document_type: str, document_number: str) -> str:
    """The blind index a person account is found by."""
    return keyed_hash(hmac_key, "person-login", f"{document_type}:{document_number.strip().upper()}")


def new_account_id() -> str:
    return "acc_" + secrets.token_hex(10)


_COLUMNS = (
    "a.id, a.kind, a.login, a.display_name, a.password_hash, a.password_changed_at, a.status, a.phone, "
    "a.person_id, a.unit_id, a.unit_admin, a.totp_secret, a.region_codes, "
    "coalesce((select array_agg(r.role order by r.role) from hub.account_role r where r.account_id = a.id), '{}'), "
    "a.phone_enc, a.password_must_change, a.password_expires_at"
)


def _keyring(conn: psycopg.Connection[Any], envelopes: list[Any]) -> Keyring | None:
    wanted = [bytes(e) for e in envelopes if e is not None]
    return ring.for_reading(conn, keys.HUB_TABLE, wanted) if wanted else None


def _phone(keyring: Keyring | None, account_id: str, envelope: Any, plain: str | None) -> str | None:
    # An account written before the phone was encrypted keeps its plain phone until the data step seals it.
    return open_value(keyring, ACCOUNT_PHONE, envelope, (account_id,)) if envelope is not None else plain


def phone_of(conn: psycopg.Connection[Any], account_id: str, envelope: Any, plain: str | None = None) -> str | None:
    """The phone of an account row selected elsewhere (``phone_enc`` and the old ``phone``)."""
    return _phone(_keyring(conn, [envelope]), account_id, envelope, plain)


def _opened(conn: psycopg.Connection[Any], row: tuple[Any, ...] | None) -> Account | None:
    if row is None:
        return None
    return _account(row, _phone(_keyring(conn, [row[14]]), row[0], row[14], row[7]))


def _account(row: tuple[Any, ...], phone: str | None) -> Account:
    return Account(
        id=row[0],
        kind=SubjectKind(row[1]),
        login=row[2],
        display_name=row[3],
        password_hash=row[4],
        password_changed_at=row[5],
        status=row[6],
        phone=phone,
        person_id=row[8],
        unit_id=row[9],
        unit_admin=row[10],
        totp_secret=bytes(row[11]) if row[11] is not None else None,
        region_codes=frozenset(row[12] or ()),
        roles=frozenset(StaffRole(r) for r in row[13]),
        password_must_change=bool(row[15]),
        password_expires_at=row[16],
    )


def get(conn: psycopg.Connection[Any], account_id: str) -> Account | None:
    row = conn.execute(f"select {_COLUMNS} from hub.account a where a.id = %s", (account_id,)).fetchone()
    return _opened(conn, row)


def find(conn: psycopg.Connection[Any], kind: SubjectKind, login: str, *, unit_id: int | None = None) -> Account | None:
    if kind is SubjectKind.UNIT_OPERATOR:
        row = conn.execute(
            f"select {_COLUMNS} from hub.account a where a.kind = 'unit_operator' and a.unit_id = %s and a.login = %s",
            (unit_id, login),
        ).fetchone()
    else:
        row = conn.execute(
            f"select {_COLUMNS} from hub.account a where a.kind = %s and a.login = %s", (kind.value, login)
        ).fetchone()
    return _opened(conn, row)


def find_person(conn: psycopg.Connection[Any], person_id: int) -> Account | None:
    row = conn.execute(
        f"select {_COLUMNS} from hub.account a where a.kind = 'person' and a.person_id = %s", (person_id,)
    ).fetchone()
    return _opened(conn, row)


def find_by_phone(conn: psycopg.Connection[Any], phone: str) -> list[Account]:
    """The accounts whose SMS phone is ``phone`` (any spelling: +86, spaces, full-width digits), by blind index."""
    keyring = ring.for_reading(conn, keys.HUB_TABLE)
    if keyring is None:
        return []
    rows = conn.execute(
        f"select {_COLUMNS} from hub.account a where a.phone_bidx = %s order by a.id",
        (keyring.blind_index(ACCOUNT_PHONE.kind, phone),),
    ).fetchall()
    return [a for a in (_opened(conn, row) for row in rows) if a is not None]


def insert(
    conn: psycopg.Connection[Any],
    *,
    kind: SubjectKind,
    login: str,
    display_name: str,
    password_hash: str,
    now: datetime,
    phone: str | None = None,
    person_id: int | None = None,
    unit_id: int | None = None,
    unit_admin: bool = False,
    region_codes: Iterable[str] = (),
    created_by: str | None = None,
) -> str:
    """Insert an account and its first password-history row; returns the id. Never commits."""
    account_id = new_account_id()
    conn.execute(
        "insert into hub.account (id, kind, login, unit_id, person_id, unit_admin, display_name, "
        "password_hash, password_changed_at, region_codes, created_at, created_by) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            account_id,
            kind.value,
            login,
            unit_id,
            person_id,
            unit_admin,
            display_name,
            password_hash,
            now,
            sorted(region_codes),
            now,
            created_by,
        ),
    )
    conn.execute(
        "insert into hub.password_history (account_id, password_hash, created_at) values (%s, %s, %s)",
        (account_id, password_hash, now),
    )
    if phone is not None:
        set_account_phone(conn, account_id, phone)
    return account_id


def password_history(conn: psycopg.Connection[Any], account_id: str, limit: int) -> list[str]:
    rows = conn.execute(
        "select password_hash from hub.password_history where account_id = %s order by id desc limit %s",
        (account_id, limit),
    ).fetchall()
    return [r[0] for r in rows]


def set_password(conn: psycopg.Connection[Any], account_id: str, password_hash: str, now: datetime) -> None:
    """A password the owner chose (a change, an SMS reset): any forced-change mark is cleared. Never commits."""
    conn.execute(
        "update hub.account set password_hash = %s, password_changed_at = %s, password_must_change = false, "
        "password_expires_at = null where id = %s",
        (password_hash, now, account_id),
    )
    conn.execute(
        "insert into hub.password_history (account_id, password_hash, created_at) values (%s, %s, %s)",
        (account_id, password_hash, now),
    )


def require_password_change(conn: psycopg.Connection[Any], account_id: str, expires_at: datetime) -> None:
    """Mark the account's password as administrator-issued: change at the next login, refused from
    ``expires_at``. Never commits."""
    conn.execute(
        "update hub.account set password_must_change = true, password_expires_at = %s where id = %s",
        (expires_at, account_id),
    )


def set_phone(conn: psycopg.Connection[Any], account_id: str, phone: str | None) -> None:
    set_account_phone(conn, account_id, phone)


def set_account_phone(conn: psycopg.Connection[Any], account_id: str, phone: str | None) -> None:
    """The account's SMS phone (also after the core applied a person's new mobile number), sealed. Never commits.

    The envelope is bound to the account id; the old plain column is emptied.
    """
    envelope, index = ACCOUNT_PHONE.seal(ring.for_writing(conn, keys.HUB_TABLE), phone, (account_id,))
    conn.execute(
        "update hub.account set phone_enc = %s, phone_bidx = %s, phone = null where id = %s",
        (envelope, index, account_id),
    )


def set_totp(conn: psycopg.Connection[Any], account_id: str, sealed_secret: bytes | None) -> None:
    conn.execute("update hub.account set totp_secret = %s where id = %s", (sealed_secret, account_id))


def add_role(conn: psycopg.Connection[Any], account_id: str, role: StaffRole, granted_by: str, now: datetime) -> None:
    conn.execute(
        "insert into hub.account_role (account_id, role, granted_by, granted_at) values (%s, %s, %s, %s) "
        "on conflict do nothing",
        (account_id, role.value, granted_by, now),
    )


def remove_role(conn: psycopg.Connection[Any], account_id: str, role: StaffRole) -> None:
    conn.execute("delete from hub.account_role where account_id = %s and role = %s", (account_id, role.value))
