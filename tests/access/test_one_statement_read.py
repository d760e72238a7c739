"""``PendingRead.once``: the position and a query's rows from one statement, in the query's order."""

from __future__ import annotations

import asyncio

import pytest

from hub import pg
from hub.access.consistency import PendingRead, Snapshot
from hub.access.context import Caller
from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.db import Pools
from hub.errors import ServiceUnavailable
from tests.api.conftest import Province

DESCENDING = "select person_id, region_code from person_overview where person_id = any(%(ids)s) order by person_id desc"


class NoAudit:
    """``once`` writes no audit record (the service functions do): any call is a failure here."""

    async def record(self, caller: Caller, action: str, target_type: str, target_id: str, result: str) -> None:
        raise AssertionError("once() must not audit")


def _pending(pools: Pools, token: int | None = None, timeout: float = 2.0) -> PendingRead:
    subject = Subject(
        SubjectKind.PERSON,
        "acct-once",
        "app-12333",
        Channel.APP,
        frozenset(s.value for s in PERSON_SCOPES),
        person_id=1,
    )
    return PendingRead(pools, Caller(subject, "rid-once"), NoAudit(), token, timeout)


def _checkpoint(province: Province) -> str:
    with pg.connect(province.query_url) as conn:
        row = conn.execute("select prev_snapshot::text from sync_checkpoint where feed = 'core'").fetchone()
    assert row is not None
    return str(row[0])


def test_rows_come_in_the_query_order_with_the_position(province: Province) -> None:
    ids = sorted(province.persons)[:5]

    async def scenario() -> tuple[list[dict[str, object]], Snapshot, list[dict[str, object]], str]:
        pools = await Pools.open(province.hub_url, province.query_url, size=2)
        try:
            async with _pending(pools).once(DESCENDING, {"ids": ids}) as (read, rows):
                snap = Snapshot(read.as_of, read.event_id, "primary")
            async with _pending(pools).once(DESCENDING, {"ids": [-1]}) as (empty_read, none):
                as_of = empty_read.as_of
            return rows, snap, none, as_of
        finally:
            await pools.close()

    rows, snap, none, empty_as_of = asyncio.run(scenario())
    # Five persons, highest id first, each with its own region and no column of the wrapper left over.
    assert [r["person_id"] for r in rows] == list(reversed(ids))
    assert rows == [{"person_id": p, "region_code": province.persons[p]["region_code"]} for p in reversed(ids)]
    assert none == []
    assert snap.as_of == empty_as_of == _checkpoint(province)


def test_a_token_is_checked_in_the_same_statement(province: Province) -> None:
    ids = sorted(province.persons)[:1]

    async def scenario() -> tuple[list[dict[str, object]], bool]:
        pools = await Pools.open(province.hub_url, province.query_url, size=2)
        try:
            # Core transaction 3 was applied long before the seeded data was synced.
            async with _pending(pools, token=3).once(DESCENDING, {"ids": ids}) as (_, rows):
                pass
            try:
                async with _pending(pools, token=2**62, timeout=0.1).once(DESCENDING, {"ids": ids}):
                    pass
            except ServiceUnavailable:
                return rows, True
            return rows, False
        finally:
            await pools.close()

    rows, refused = asyncio.run(scenario())
    assert [r["person_id"] for r in rows] == ids
    assert refused


@pytest.mark.parametrize("with_token", [False, True])
def test_the_statement_text_is_stable(with_token: bool) -> None:
    """One text per query and token use: psycopg prepares it once per connection."""
    from hub.access.consistency import once_statement

    a = once_statement(DESCENDING, with_token=with_token)
    assert a == once_statement(DESCENDING, with_token=with_token)
    assert ("%(once_token)s" in a) is with_token
    assert DESCENDING in a
