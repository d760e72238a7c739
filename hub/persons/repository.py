"""SQL over the query store for a person's records (read connections only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.numeric import Int8

from hub.access.rules import PersonFacts
from hub.crypto.columns import reveal_async
from hub.db import ReadConnection

Row = dict[str, Any]


async def _all(conn: ReadConnection, query: str, params: Sequence[Any] | dict[str, Any]) -> list[Row]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def facts_many(conn: ReadConnection, person_ids: Sequence[int]) -> dict[int, PersonFacts]:
    rows = await _all(
        conn,
        "select p.person_id, p.region_code, "
        "coalesce((select array_agg(distinct r.unit_id) from unit_roster r where r.person_id = p.person_id), "
        "'{}') as unit_ids from person_overview p where p.person_id = any(%s)",
        (list(person_ids),),
    )
    return {
        r["person_id"]: PersonFacts(r["person_id"], r["region_code"], frozenset(u for u in r["unit_ids"] if u))
        for r in rows
    }


# The overview row with the units on whose roster the person is: ownership facts and data in one query
# (``hub.access.consistency.PendingRead.once`` adds the position to it).
OVERVIEW_WITH_FACTS = (
    "select p.*, coalesce((select array_agg(distinct r.unit_id) from unit_roster r where r.person_id = p.person_id), "
    "'{}') as roster_unit_ids from person_overview p where p.person_id = %(person)s"
)

# The same for several persons (``persons``: a bigint array), for the batch of a DataLoader.
OVERVIEWS_WITH_FACTS = (
    "select p.*, coalesce((select array_agg(distinct r.unit_id) from unit_roster r where r.person_id = p.person_id), "
    "'{}') as roster_unit_ids from person_overview p where p.person_id = any(%(persons)s)"
)


def overview_with_facts(person_ids: Sequence[int]) -> tuple[str, dict[str, Any]]:
    """The query and parameters reading these persons' overview rows with their facts. Ids are sent as
    int8, so each statement is prepared once whatever the ids' size (psycopg picks int2/4/8 by value)."""
    if len(person_ids) == 1:
        return OVERVIEW_WITH_FACTS, {"person": Int8(person_ids[0])}
    return OVERVIEWS_WITH_FACTS, {"persons": [Int8(p) for p in person_ids]}


def overview_facts(row: Row) -> PersonFacts:
    """The facts of an ``OVERVIEW_WITH_FACTS`` row, taken out of it (the rest is the overview row)."""
    units = row.pop("roster_unit_ids")
    return PersonFacts(row["person_id"], row["region_code"], frozenset(u for u in units if u))


async def reveal_overview(conn: ReadConnection, row: Row) -> Row:
    """Decrypt an overview row read elsewhere (ID number and phone are stored encrypted), in place."""
    await reveal_async(conn, "person_overview", [row])
    return row


async def overview_many(conn: ReadConnection, person_ids: Sequence[int]) -> dict[int, Row]:
    rows = await _all(conn, "select * from person_overview where person_id = any(%s)", (list(person_ids),))
    await reveal_async(conn, "person_overview", rows)  # ID number and phone are stored encrypted
    return {r["person_id"]: r for r in rows}


async def insurance(conn: ReadConnection, person_id: int) -> list[Row]:
    return await _all(conn, "select * from person_insurance where person_id = %s order by insurance", (person_id,))


async def contributions(
    conn: ReadConnection,
    person_id: int,
    *,
    unit_id: int | None,
    year: int | None,
    insurance: str | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[Row]:
    """Newest period first, then detail id; ``after`` is the (period, detail_id) of the last row seen."""
    return await _all(
        conn,
        "select * from contribution_month where person_id = %(p)s "
        "and (%(u)s::bigint is null or unit_id = %(u)s) "
        "and (%(y)s::int is null or period between %(y)s * 100 + 1 and %(y)s * 100 + 12) "
        "and (%(i)s::text is null or insurance = %(i)s) "
        "and (%(ap)s::int is null or (period, -detail_id) < (%(ap)s, -%(ad)s::bigint)) "
        "order by period desc, detail_id asc limit %(n)s",
        {
            "p": person_id,
            "u": unit_id,
            "y": year,
            "i": insurance,
            "ap": after[0] if after else None,
            "ad": after[1] if after else None,
            "n": limit,
        },
    )


async def accounts(conn: ReadConnection, person_id: int, account: str | None) -> list[Row]:
    return await _all(
        conn,
        "select * from account_year where person_id = %s and (%s::text is null or account = %s) order by account, year",
        (person_id, account, account),
    )


async def benefit(conn: ReadConnection, person_id: int) -> Row | None:
    rows = await _all(conn, "select * from benefit where person_id = %s", (person_id,))
    return rows[0] if rows else None


async def benefit_items(conn: ReadConnection, person_id: int) -> list[Row]:
    return await _all(conn, "select * from benefit_item where person_id = %s order by item", (person_id,))


async def payments(conn: ReadConnection, person_id: int, year: int | None) -> list[Row]:
    return await _all(
        conn,
        "select * from benefit_payment where person_id = %(p)s "
        "and (%(y)s::int is null or period between %(y)s * 100 + 1 and %(y)s * 100 + 12) order by period",
        {"p": person_id, "y": year},
    )


async def card(conn: ReadConnection, person_id: int) -> Row | None:
    rows = await _all(conn, "select * from card where person_id = %s", (person_id,))
    return rows[0] if rows else None


async def rights_statement(conn: ReadConnection, person_id: int, year: int | None) -> list[Row]:
    return await _all(
        conn,
        "select * from rights_statement where person_id = %s and (%s::int is null or year = %s) "
        "order by year, insurance",
        (person_id, year, year),
    )
