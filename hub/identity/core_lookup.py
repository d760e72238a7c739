"""The few reads of the core the identity service needs (read-only; the hub never writes the core).

The core is the authority for a person's name and phone: registration checks ID + name against AC01
and sends the code only to the phone AC01 holds. Connections passed here should be read-only
(``default_transaction_read_only``); ``read_only`` makes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from hub import pg

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class CorePerson:
    person_id: int
    document_type: str
    document_number: str
    name: str
    phone: str | None
    region_code: str
    retired: bool


@dataclass(frozen=True)
class CoreUnit:
    unit_id: int
    uscc: str
    name: str
    region_code: str


def read_only(url: str) -> psycopg.Connection[Any]:
    conn = pg.connect(url, autocommit=True, application_name="hub-identity")
    conn.execute("set default_transaction_read_only = on")
    return conn


def is_mobile(phone: str | None) -> bool:
    return phone is not None and bool(_MOBILE.match(phone))


_PERSON_COLUMNS = "aac001, aac058, aac002, aac003, aac067, aaa027, aac084"


def _person(row: tuple[Any, ...]) -> CorePerson:
    return CorePerson(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6] == "1")


def find_person(core: psycopg.Connection[Any], document_type: str, document_number: str) -> CorePerson | None:
    row = core.execute(
        f"select {_PERSON_COLUMNS} from core.ac01 where aac058 = %s and aac002 = %s",
        (document_type, document_number),
    ).fetchone()
    return _person(row) if row else None


def get_person(core: psycopg.Connection[Any], person_id: int) -> CorePerson | None:
    row = core.execute(f"select {_PERSON_COLUMNS} from core.ac01 where aac001 = %s", (person_id,)).fetchone()
    return _person(row) if row else None


def find_unit(core: psycopg.Connection[Any], unit_code: str) -> CoreUnit | None:
    """A unit by 统一社会信用代码 or by 单位编号 (AAB001)."""
    code = unit_code.strip().upper()
    if code.isdigit() and len(code) < 18:
        row = core.execute("select aab001, uscc, aab004, aaa027 from core.ab01 where aab001 = %s", (int(code),))
    else:
        row = core.execute("select aab001, uscc, aab004, aaa027 from core.ab01 where uscc = %s", (code,))
    found = row.fetchone()
    return CoreUnit(int(found[0]), found[1], found[2], found[3]) if found else None
