"""Person accounts over the seeded province, and the personal login walked through the real pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import SubjectKind
from hub.identity import accounts, core_lookup
from hub.identity.passwords import hash_password
from tests.api.conftest import Province
from tests.identity.idkit import T0, last_code
from tests.identity.oauthkit import hidden

PERSON_PW = "Renmin@2026qx"


@dataclass(frozen=True)
class Person:
    person_id: int
    document_type: str
    document_number: str
    name: str
    phone: str


def has_rare_character(name: str) -> bool:
    """A character outside the Basic Multilingual Plane (CJK Ext-B and later, e.g. 𠮷)."""
    return any(ord(ch) > 0xFFFF for ch in name)


def working_persons(province: Province) -> list[int]:
    """Persons in work with a mobile phone, a closed account year and contributions, rare names first."""
    with core_lookup.read_only(province.core_url) as core:
        mobile = {
            int(pid): str(name)
            for pid, name in core.execute(
                "select aac001, aac003 from core.ac01 where aac084 = '0' and aac058 = '01' "
                "and aac067 ~ '^1[3-9][0-9]{9}$'"
            ).fetchall()
        }
    with pg.connect(province.query_url) as conn:
        ready = {
            cast(int, r[0])  # person_overview.person_id is a bigint
            for r in conn.execute(
                "select p.person_id from person_overview p where p.person_id = any(%s) "
                "and exists (select 1 from account_year a where a.person_id = p.person_id) "
                "and exists (select 1 from contribution_month m where m.person_id = p.person_id "
                "and m.insurance = '120')",
                (list(mobile),),
            ).fetchall()
        }
    return sorted(ready, key=lambda pid: (not has_rare_character(mobile[pid]), pid))


def person_account(province: Province, cfg: Any, person_id: int) -> Person:
    """The person's portal account (created, or its password set to ``PERSON_PW``), as the core knows them."""
    with core_lookup.read_only(province.core_url) as core:
        found = core_lookup.get_person(core, person_id)
    assert found is not None and found.phone is not None
    with pg.connect(province.hub_url) as conn:
        existing = accounts.find_person(conn, person_id)
        if existing is None:
            accounts.insert(
                conn,
                kind=SubjectKind.PERSON,
                login=accounts.person_login(cfg.hmac_key, found.document_type, found.document_number),
                display_name=found.name,
                password_hash=hash_password(PERSON_PW),
                now=T0,
                phone=found.phone,
                person_id=person_id,
                region_codes=(found.region_code,),
            )
        else:
            conn.execute(
                "update hub.account set password_hash = %s, phone = %s where id = %s",
                (hash_password(PERSON_PW), found.phone, existing.id),
            )
        conn.commit()
    return Person(person_id, found.document_type, found.document_number, found.name, found.phone)


def log_in(client: TestClient, province: Province, person: Person, next_url: str = "/portal/me") -> None:
    """Walk the personal login pages (password, then the SMS code from the outbox); leaves the session cookie."""
    form = client.get("/auth/login", params={"kind": "person", "next": next_url})
    page = client.post(
        "/auth/login",
        data={
            "csrf_token": hidden(form.text, "csrf_token"),
            "kind": "person",
            "document_type": person.document_type,
            "login": person.document_number,
            "password": PERSON_PW,
            "next": next_url,
        },
    )
    assert page.status_code == 200 and 'name="ticket"' in page.text, page.text
    with pg.connect(province.hub_url) as conn:
        code = last_code(conn, person.phone)
    done = client.post(
        "/auth/login/verify",
        data={"csrf_token": hidden(page.text, "csrf_token"), "ticket": hidden(page.text, "ticket"), "code": code,
              "next": next_url},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == next_url, done.text


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def retired_persons(province: Province) -> list[int]:
    """Retirees with a mobile phone, an approved benefit and payments."""
    with core_lookup.read_only(province.core_url) as core:
        mobile = [
            int(r[0])
            for r in core.execute(
                "select aac001 from core.ac01 where aac084 = '1' and aac058 = '01' and aac067 ~ '^1[3-9][0-9]{9}$'"
            ).fetchall()
        ]
    with pg.connect(province.query_url) as conn:
        return [
            cast(int, r[0])  # benefit.person_id is a bigint
            for r in conn.execute(
                "select b.person_id from benefit b where b.person_id = any(%s) "
                "and exists (select 1 from benefit_payment p where p.person_id = b.person_id) order by 1",
                (mobile,),
            ).fetchall()
        ]
