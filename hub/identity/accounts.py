"""Accounts in the hub DB: persons, unit operators and staff (SQL and the account record).

Persons are found by a blind index (HMAC) of their document number, never by the number itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.access.subject import StaffRole, SubjectKind
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

    @property
    def active(self) -> bool:
        return self.status == "active"


def person_login(hmac_key: str, document_type: str, document_number: str) -> str:
    """The blind index a person account is found by."""
    return keyed_hash(hmac_key, "person-login", f"{document_type}:{document_number.strip().upper()}")


def new_account_id() -> str:
    return "acc_" + secrets.token_hex(10)


_COLUMNS = (
    "a.id, a.kind, a.login, a.display_name, a.password_hash, a.password_changed_at, a.status, a.phone, "
    "a.person_id, a.unit_id, a.unit_admin, a.totp_secret, a.region_codes, "
    "coalesce((select array_agg(r.role order by r.role) from hub.account_role r where r.account_id = a.id), '{}')"
)


def _account(row: tuple[Any, ...]) -> Account:
    return Account(
        id=row[0],
        kind=SubjectKind(row[1]),
        login=row[2],
        display_name=row[3],
        password_hash=row[4],
        password_changed_at=row[5],
        status=row[6],
        phone=row[7],
        person_id=row[8],
        unit_id=row[9],
        unit_admin=row[10],
        totp_secret=bytes(row[11]) if row[11] is not None else None,
        region_codes=frozenset(row[12] or ()),
        roles=frozenset(StaffRole(r) for r in row[13]),
    )


def get(conn: psycopg.Connection[Any], account_id: str) -> Account | None:
    row = conn.execute(f"select {_COLUMNS} from hub.account a where a.id = %s", (account_id,)).fetchone()
    return _account(row) if row else None


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
    return _account(row) if row else None


def find_person(conn: psycopg.Connection[Any], person_id: int) -> Account | None:
    row = conn.execute(
        f"select {_COLUMNS} from hub.account a where a.kind = 'person' and a.person_id = %s", (person_id,)
    ).fetchone()
    return _account(row) if row else None


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
        "insert into hub.account (id, kind, login, unit_id, person_id, unit_admin, display_name, phone, "
        "password_hash, password_changed_at, region_codes, created_at, created_by) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            account_id,
            kind.value,
            login,
            unit_id,
            person_id,
            unit_admin,
            display_name,
            phone,
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
    return account_id


def password_history(conn: psycopg.Connection[Any], account_id: str, limit: int) -> list[str]:
    rows = conn.execute(
        "select password_hash from hub.password_history where account_id = %s order by id desc limit %s",
        (account_id, limit),
    ).fetchall()
    return [r[0] for r in rows]


def set_password(conn: psycopg.Connection[Any], account_id: str, password_hash: str, now: datetime) -> None:
    conn.execute(
        "update hub.account set password_hash = %s, password_changed_at = %s where id = %s",
        (password_hash, now, account_id),
    )
    conn.execute(
        "insert into hub.password_history (account_id, password_hash, created_at) values (%s, %s, %s)",
        (account_id, password_hash, now),
    )


def set_phone(conn: psycopg.Connection[Any], account_id: str, phone: str | None) -> None:
    conn.execute("update hub.account set phone = %s where id = %s", (phone, account_id))


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
