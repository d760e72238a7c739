"""Persons of the seeded province and subjects for service-level calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from hub import pg
from hub.access.scopes import ALL_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import core_lookup
from tests.api.conftest import Province


@dataclass(frozen=True)
class Retiree:
    person_id: int
    document_number: str
    name: str
    region_code: str
    retire_date: date | None


def retirees(province: Province) -> list[Retiree]:
    """Retirees of the province as the core and the store know them (ID card holders, 01)."""
    with core_lookup.read_only(province.core_url) as core:
        rows = core.execute(
            "select aac001, aac002, aac003, aaa027, aic162 from core.ac01 where aac084 = '1' and aac058 = '01' "
            "order by aac001"
        ).fetchall()
    with pg.connect(province.query_url) as store:
        synced = {
            cast(int, r[0])  # person_id: bigint
            for r in store.execute("select person_id from person_overview where retired").fetchall()
        }
    return [Retiree(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in rows if int(r[0]) in synced]


def workers(province: Province) -> list[int]:
    """Persons in work with contributions (not retirees)."""
    with pg.connect(province.query_url) as store:
        return [
            cast(int, r[0])  # person_id: bigint
            for r in store.execute(
                "select p.person_id from person_overview p where not coalesce(p.retired, false) and exists "
                "(select 1 from contribution_month m where m.person_id = p.person_id) order by 1"
            ).fetchall()
        ]


def region_of(province: Province, person_id: int) -> str:
    with pg.connect(province.query_url) as store:
        row = store.execute("select region_code from person_overview where person_id = %s", (person_id,)).fetchone()
    assert row is not None
    return str(row[0])


def staff(region_code: str, role: StaffRole = StaffRole.OPERATOR) -> Subject:
    return Subject(
        SubjectKind.STAFF,
        f"st-{role.value}-{uuid.uuid4().hex[:8]}",
        "portal-web",
        Channel.PORTAL,
        frozenset(str(s) for s in ALL_SCOPES),
        roles=frozenset({role}),
        region_codes=frozenset({region_code}),
    )


def person(person_id: int) -> Subject:
    return Subject(
        SubjectKind.PERSON,
        f"acct-{person_id}",
        "portal-web",
        Channel.PORTAL,
        frozenset(str(s) for s in ALL_SCOPES),
        person_id=person_id,
    )


def audit_rows(hub_url: str, action: str, target_id: str) -> list[dict[str, Any]]:
    with pg.connect(hub_url) as hub:
        cur = hub.execute(
            "select actor_kind, actor, client_id, channel, action, result, target_id from hub.audit_log "
            "where action = %s and target_id = %s order by at, seq",
            (action, target_id),
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


# Which retiree each test certifies. The tests share the seeded province (session scope) and each asserts
# the certifications of its own retiree, so no two may pick the same one, in any order: test_eligibility
# takes the first three, the first with a mobile number after them (the status page) and the last (the
# reminder command); the kiosk test takes one of the rest holding a card in use.
def _has_mobile(province: Province, person_id: int) -> bool:
    with core_lookup.read_only(province.core_url) as core:
        found = core_lookup.get_person(core, person_id)
    return found is not None and core_lookup.is_mobile(found.phone)


def status_page_retiree(province: Province) -> Retiree:
    """test_eligibility's status page: the first retiree after the first three with a mobile number."""
    return next(r for r in retirees(province)[3:-1] if _has_mobile(province, r.person_id))


def kiosk_retiree(province: Province) -> Retiree:
    """test_kiosk_cert's retiree: one card, in use; none of the retirees test_eligibility certifies."""
    taken = {status_page_retiree(province).person_id}
    with pg.connect(province.core_url) as core:
        holders = {
            cast(int, r[0])  # aac001: bigint
            for r in core.execute(
                "select aac001 from core.ac50 group by aac001 having bool_and(status = '1')"
            ).fetchall()
        }
    found = [r for r in retirees(province)[3:-1] if r.person_id in holders and r.person_id not in taken]
    assert found, "the seeded province has a retiree with a card for the kiosk test"
    return found[-1]
