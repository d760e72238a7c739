"""The set-based backfill and the incremental projections build the same store from a whole province."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import cast

from core import seed, service
from hub import pg
from hub.rules.period import Period
from sync import apply, feed, verify
from sync.backfill import backfill
from sync.worker import FEED, SyncWorker
from tests.conftest import Databases


def _all_equal(dbs: Databases) -> list[str]:
    return [
        f"{r.name}: -{len(r.missing)} +{len(r.extra)} ~{len(r.differing)}"
        for r in verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0)
        if not r.equal
    ]


def test_incremental_build_equals_the_core_then_backfill_does_too(dbs: Databases) -> None:
    # The generator with change capture on: every row it writes goes through the change log.
    counts = seed.seed(dbs.core_url, persons=80, years=2, with_changes=True)
    assert counts["chg_log"] > counts["ac43"]
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    worker = SyncWorker(dbs.core_url, dbs.query_url, batch_size=500)
    applied = worker.drain()
    worker.close()
    assert applied == counts["chg_log"]
    assert _all_equal(dbs) == []
    with pg.connect(dbs.query_url) as store:
        regions = store.execute("select count(distinct region_code) from region_parameter where kind = 'ya_wage'")
        row = regions.fetchone()
        assert row is not None
        assert cast(int, row[0]) > 1  # count(): bigint
    rebuilt = backfill(dbs.core_url, dbs.query_url)
    assert rebuilt["contribution_month"] == counts["ac43"]
    assert _all_equal(dbs) == []


def test_changes_after_a_backfill_continue_from_its_snapshot(dbs: Databases) -> None:
    seed.seed(dbs.core_url, persons=40, years=1)
    backfill(dbs.core_url, dbs.query_url)
    with pg.connect(dbs.core_url) as core:
        row = core.execute(
            "select c.aac001, c.aab001 from core.ac02 c join core.ac01 p using (aac001) "
            "where p.aac084 = '0' and c.aae140 = '120' order by 1 limit 1"
        ).fetchone()
        assert row is not None
        person, unit = cast(int, row[0]), cast(int, row[1])  # aac001, aab001: bigint
        ids = service.plan_contributions(
            core, person, unit, Period(2025, 12), Period(2025, 12), Decimal("9000"), kind="31"
        )
        service.record_arrival(core, unit, Period(2025, 12), date(2026, 1, 10))
        core.commit()
    worker = SyncWorker(dbs.core_url, dbs.query_url)
    worker.drain()
    worker.close()
    with pg.connect(dbs.query_url) as store:
        got = store.execute(
            "select count(*) from contribution_month where detail_id = any(%s) and kind = '31'", (ids,)
        ).fetchone()
        assert got == (len(ids),)
    assert _all_equal(dbs) == []
