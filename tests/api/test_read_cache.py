"""The hot read-model cache: used when nothing changed, never older than the snapshot it is served in.

The cache's clock is the sync event id (see hub/access/cache.py). The API test runs the real sync on
a real core; the property test drives ``HotCache`` against a model of the store with any interleaving
of sync batches, tailer progress (also behind) and reads at any position (replicas behind).
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hub import pg
from hub.access.cache import HotCache
from hub.settings import SyncSettings
from tests.api.actors import cast
from tests.api.conftest import Api, Province, load_province, make_api
from tests.conftest import Databases


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """A generous liveness bound, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


@pytest.fixture
def own_province(dbs: Databases) -> Province:
    """A province of its own: this test writes the core."""
    from core import seed
    from sync.backfill import backfill

    seed.seed(dbs.core_url, persons=20, years=1)
    backfill(dbs.core_url, dbs.query_url)
    return load_province(dbs.core_url, dbs.query_url, dbs.hub_url, dbs.redis_url)


@pytest.fixture
def cached_api(own_province: Province) -> Iterator[Api]:
    p = own_province
    with make_api(p.core_url, p.query_url, p.hub_url, p.redis_url) as api:
        yield api


class Store:
    def __init__(self, p: Province, api: Api) -> None:
        from sync.worker import SyncWorker

        self.p = p
        self.api = api
        self.sync = SyncWorker.from_settings(p.core_url, p.query_url, SyncSettings(embedded=False))

    @property
    def cache(self) -> HotCache:
        cache = self.api.client.app.state.read_cache  # type: ignore[attr-defined]
        assert isinstance(cache, HotCache)
        return cache

    def newest_event(self) -> int:
        with pg.connect(self.p.query_url) as conn:
            row = conn.execute("select coalesce(max(id), 0) from sync_event").fetchone()
        assert row is not None
        return typing.cast(int, row[0])  # coalesce(max(id), 0): bigint

    def tailer_caught_up(self) -> None:
        newest = self.newest_event()
        _wait_for(lambda: self.cache.seen >= newest, "the cache tailer reads the sync events")

    def core(self, sql: str, params: tuple[Any, ...]) -> None:
        """A change in the core, applied to the store by the sync."""
        with pg.connect(self.p.core_url) as core:
            core.execute(sql, params)
            core.commit()
        assert self.sync.drain() > 0

    def out_of_band(self, sql: str, params: tuple[Any, ...]) -> None:
        """A store edit behind the sync's back (no event): shows which answers come from the cache."""
        with pg.connect(self.p.query_url) as conn:
            conn.execute(sql, params)
            conn.commit()

    def read(self, path: str, field: str, who: str = "reviewer") -> Any:
        before = (self.cache.hits, self.cache.misses)
        r = self.api.get(cast(self.p).actors[who], path)
        assert r.status_code == 200, r.text
        self.last = "hit" if self.cache.hits > before[0] else "miss"
        return r.json()["data"][field]


def test_cached_overviews_follow_every_synced_change(own_province: Province, cached_api: Api) -> None:
    s = Store(own_province, cached_api)
    try:
        c = cast(own_province)
        person, unit = f"/api/v1/persons/{c.a}/overview", f"/api/v1/units/{c.x}/overview"
        s.tailer_caught_up()
        first = s.read(person, "ethnicity")
        assert s.last == "miss"
        assert s.read(person, "ethnicity") == first and s.last == "hit"

        # The hit really is the cache: an edit behind the sync's back is not seen ...
        s.out_of_band("update person_overview set ethnicity = '77' where person_id = %s", (c.a,))
        assert s.read(person, "ethnicity") == first and s.last == "hit"
        # ... until the sync applies a change of that person: from then on the store's value, at once
        # (the tailer may not have seen the event yet: a read ahead of it is a miss, never stale).
        s.core("update core.ac01 set aac005 = '93' where aac001 = %s", (c.a,))
        assert s.read(person, "ethnicity") == "93"
        s.tailer_caught_up()
        assert s.read(person, "ethnicity") == "93"
        assert s.read(person, "ethnicity") == "93" and s.last == "hit"

        # A change of someone else leaves this entry alone (precise invalidation).
        s.core("update core.ac01 set aac005 = '94' where aac001 = %s", (c.b,))
        s.tailer_caught_up()
        assert s.read(person, "ethnicity") == "93" and s.last == "hit"

        # The unit overview likewise, and a GraphQL read goes through the same cache.
        name = s.read(unit, "name")
        s.tailer_caught_up()
        assert s.read(unit, "name") == name and s.last == "hit"
        s.core("update core.ab01 set aab004 = %s where aab001 = %s", (name + "（更名）", c.x))
        assert s.read(unit, "name") == name + "（更名）"
        g = cached_api.gql(c.actors["reviewer"], "query($id: ID!) { unit(id: $id) { overview { name } } }", {"id": c.x})
        assert g.json()["data"]["unit"]["overview"]["name"] == name + "（更名）", g.text

        # With the tailer stopped, nothing is invalidated any more: every read past its position
        # goes to the store, so a synced change is still seen at once.
        tailer = cached_api.client.app.state.read_cache_tailer  # type: ignore[attr-defined]
        assert cached_api.client.portal is not None
        cached_api.client.portal.call(tailer.stop)
        s.core("update core.ac01 set aac005 = '95' where aac001 = %s", (c.a,))
        assert s.read(person, "ethnicity") == "95" and s.last == "miss"
        assert s.read(person, "ethnicity") == "95" and s.last == "miss"
    finally:
        s.sync.close()


# ------------------------------------------------------------------------------------------------
# HotCache against a model store


_write = st.tuples(st.just("write"), st.lists(st.integers(0, 2), min_size=1, max_size=3))  # a batch's subjects
_tail = st.tuples(st.just("tail"), st.sampled_from([0, 1, 2, 1000]))  # the tailer reads some events
_read = st.tuples(st.just("read"), st.integers(0, 2), st.sampled_from([0, 0, 0, 1, 2, 5]))  # subject, lag
_rebuild = st.tuples(st.just("rebuild"))  # a backfill: one "all" event
# Rebuilds clear everything: rarer, so that entries live long enough to be tested.
_steps = st.lists(st.one_of(_write, _write, _tail, _tail, _read, _read, _read, _rebuild), max_size=60)


@settings(max_examples=1000, deadline=None)
@given(steps=_steps, size=st.integers(1, 4))
# A change after the entry was stored: the tailer's event must drop it.
@example(steps=[("read", 0, 0), ("write", [0]), ("tail", 1000), ("read", 0, 0)], size=1)
# A rebuild: everything goes.
@example(steps=[("tail", 1000), ("read", 0, 0), ("rebuild",), ("tail", 1000), ("read", 0, 0)], size=1)
# A reader behind the tailer (a replica) may not store: events up to the tailer are already applied.
@example(steps=[("write", [0]), ("tail", 1000), ("read", 0, 1), ("read", 0, 0)], size=1)
# A reader behind an entry stores its own older row under its own position, not under the entry's.
@example(steps=[("write", [0]), ("read", 0, 0), ("read", 0, 1), ("tail", 1000), ("read", 0, 0)], size=1)
# A reader ahead of the tailer may not use an entry: the tailer has not dropped it yet.
@example(steps=[("tail", 1000), ("read", 0, 0), ("write", [0]), ("read", 0, 0)], size=1)
def test_hot_cache_never_answers_other_than_the_store_at_the_read_position(
    steps: list[tuple[Any, ...]], size: int
) -> None:
    cache = HotCache(size)
    events: list[tuple[int, str, str]] = []  # the sync_event table
    versions: dict[int, list[int]] = {}  # subject -> ids of the events that changed it
    rebuilds: list[int] = []

    def store_value(subject: int, position: int) -> tuple[int, int]:
        """What the store holds for ``subject`` at event id ``position`` (its change count, rebuilds)."""
        return (
            sum(1 for e in versions.get(subject, []) if e <= position),
            sum(1 for e in rebuilds if e <= position),
        )

    for step in steps:
        if step[0] == "write":
            for subject in sorted(set(step[1])):
                events.append((len(events) + 1, "person", str(subject)))
                versions.setdefault(subject, []).append(len(events))
        elif step[0] == "rebuild":
            events.append((len(events) + 1, "all", "*"))
            rebuilds.append(len(events))
        elif step[0] == "tail":
            upto = max(cache.seen, min(len(events), max(cache.seen, 0) + step[1]))
            cache.apply([e for e in events if max(cache.seen, 0) < e[0] <= upto], upto)
        else:
            subject, behind = step[1], step[2]
            position = max(0, len(events) - behind)  # a replica may be behind the primary
            got = cache.get(("person", subject), "overview", position)
            if got is None:
                got = store_value(subject, position)
                cache.put(("person", subject), "overview", position, got)
            assert got == store_value(subject, position)
        assert len(cache) <= size
