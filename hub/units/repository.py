"""SQL over the query store for a unit's records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access.rules import UnitFacts
from hub.crypto.columns import reveal_async
from hub.db import ReadConnection
from hub.persons.repository import _all

Row = dict[str, Any]


async def facts_many(conn: ReadConnection, unit_ids: Sequence[int]) -> dict[int, UnitFacts]:
    rows = await _all(conn, "select unit_id, region_code from unit_overview where unit_id = any(%s)", (list(unit_ids),))
    return {r["unit_id"]: UnitFacts(r["unit_id"], r["region_code"]) for r in rows}


async def overview_many(conn: ReadConnection, unit_ids: Sequence[int]) -> dict[int, Row]:
    rows = await _all(conn, "select * from unit_overview where unit_id = any(%s)", (list(unit_ids),))
    await reveal_async(conn, "unit_overview", rows)  # contact phone and bank account are stored encrypted
    return {r["unit_id"]: r for r in rows}


async def roster(conn: ReadConnection, unit_id: int, *, after: int | None, limit: int) -> list[Row]:
    rows = await _all(
        conn,
        "select r.relation_id, r.person_id, p.name, p.id_number_enc, r.start_date, r.end_date "
        "from unit_roster r left join person_overview p on p.person_id = r.person_id "
        "where r.unit_id = %(u)s and (%(a)s::bigint is null or r.relation_id > %(a)s) "
        "order by r.relation_id limit %(n)s",
        {"u": unit_id, "a": after, "n": limit},
    )
    return await reveal_async(conn, "person_overview", rows)


async def month_totals(conn: ReadConnection, unit_id: int, year: int | None, insurance: str | None) -> list[Row]:
    return await _all(
        conn,
        "select * from unit_month_total where unit_id = %(u)s "
        "and (%(y)s::int is null or period between %(y)s * 100 + 1 and %(y)s * 100 + 12) "
        "and (%(i)s::text is null or insurance = %(i)s) order by period desc, insurance",
        {"u": unit_id, "y": year, "i": insurance},
    )
