"""Incremental sync end to end on real PostgreSQL: core rows in, read models out, verify equal."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import psycopg
import pytest
from psycopg.rows import dict_row

from hub import pg
from hub.crypto import columns
from sync import apply, feed, verify
from sync.worker import FEED, SyncWorker
from tests.conftest import Databases
from tests.fixtures import core_rows


def start_from_empty(dbs: Databases) -> SyncWorker:
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    return SyncWorker(dbs.core_url, dbs.query_url, batch_size=7)


def test_changes_arrive_in_read_models_and_verify_equal(dbs: Databases) -> None:
    worker = start_from_empty(dbs)
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core)
        for i, period in enumerate((202401, 202402, 202403)):
            core_rows.contribution(core, 10 + i, 1, 1, period)
        core_rows.contribution(core, 20, 2, 2, 202401, insurance="116", real=False, paid=False)
        core.commit()
    worker.drain()
    with pg.connect(dbs.query_url) as store, store.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("select person_id, name, phone, phone_enc from person_overview where person_id = 1")
        # The phone is stored only as an envelope; the reader opens it.
        (row,) = columns.reveal(store, "person_overview", rows.fetchall())
        assert (row["name"], row["phone"]) == ("张三", "13900000001")
        total = store.execute(
            "select rows, due, paid, arrears from unit_month_total where unit_id = 1 and period = 202401"
        ).fetchone()
        # base 10,000 × (16 % unit + 8 % person) = 2,400 due, all paid
        assert total == (1, Decimal("2400.00"), Decimal("2400.00"), Decimal("0.00"))
        annuity = store.execute(
            "select due, paid, virtual_unit from unit_month_total where unit_id = 2 and insurance = '116'"
        ).fetchone()
        # 虚账 annuity: only the personal 4 % = 400 is due (unpaid); the unit's 8 % = 800 is a book entry
        assert annuity == (Decimal("400.00"), Decimal("0.00"), Decimal("800.00"))
    reports = verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0)
    assert [r.name for r in reports if not r.equal] == []
    worker.close()


def test_updates_and_deletes_move_aggregates(dbs: Databases) -> None:
    worker = start_from_empty(dbs)
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core)
        core_rows.contribution(core, 1, 1, 1, 202401)
        core_rows.contribution(core, 2, 2, 1, 202401)
        core.commit()
    worker.drain()
    with pg.connect(dbs.core_url) as core:
        core.execute("update core.ac43 set aae003 = 202402 where detail_id = 1")
        core.execute("update core.ac43 set aae078 = '0', paid_on = null where detail_id = 2")
        core.execute("delete from core.ac43 where detail_id = 2")
        core.execute("update core.ac01 set aac003 = '李四' where aac001 = 3")
        core.commit()
    worker.drain()
    with pg.connect(dbs.query_url) as store:
        rows = store.execute("select period, rows from unit_month_total where unit_id = 1 order by period").fetchall()
        assert rows == [(202402, 1)]  # 202401 emptied and removed; detail 1 moved to 202402
        assert store.execute("select name from person_overview where person_id = 3").fetchone() == ("李四",)
        assert store.execute("select count(*) from contribution_month").fetchone() == (1,)
    assert all(r.equal for r in verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0))
    worker.close()


def test_verify_finds_and_repairs_a_tampered_store(dbs: Databases) -> None:
    worker = start_from_empty(dbs)
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core)
        core_rows.contribution(core, 1, 1, 1, 202401)
        core.commit()
    worker.drain()
    worker.close()
    with pg.connect(dbs.query_url) as store:
        store.execute("update contribution_month set base = 1 where detail_id = 1")
        store.execute("delete from person_overview where person_id = 2")
        store.execute("insert into code_table values ('X', '1', '多余')")
        store.commit()
    reports = {r.name: r for r in verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0)}
    assert reports["contribution_month"].differing == ["(1)"]
    assert reports["person_overview"].missing == ["(2)"]
    assert reports["code_table"].extra == ["(X,1)"]
    repaired = verify.verify(dbs.core_url, dbs.query_url, repair=True, wait_seconds=0)
    assert sum(r.repaired for r in repaired) == 3
    assert all(r.equal for r in verify.verify(dbs.core_url, dbs.query_url, wait_seconds=0))


@pytest.mark.parametrize(
    ("tbl", "op", "old", "new", "reason"),
    [
        ("zz99", "I", None, "{}", "unknown table"),
        ("ac01", "I", None, None, "missing new row image"),
        ("ac01", "I", None, '{"aac001": "not a number"}', "ValueError"),
        ("ac01", "I", None, '{"aac001": 51}', "KeyError"),
        ("ac01", "U", None, '{"aac001": 51}', "missing old row image"),
    ],
)
def test_bad_change_stops_the_batch_and_keeps_the_checkpoint(
    dbs: Databases, tbl: str, op: str, old: str | None, new: str | None, reason: str
) -> None:
    worker = start_from_empty(dbs)
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core, persons=1)
        core.commit()
    worker.drain()
    with pg.connect(dbs.query_url) as store:
        before = apply.load_checkpoint(store, FEED)
    with pg.connect(dbs.core_url) as core:
        core_rows.person(core, 50, name="赵六")
        core.execute(
            "insert into core.chg_log (tbl, op, old_row, new_row) values (%s, %s, %s, %s)",
            (tbl, op, old, new),
        )
        bad_id = core.execute("select max(id) from core.chg_log").fetchone()
        core.commit()
    assert bad_id is not None
    assert worker.step() == 0
    status = worker.status()
    assert status.fault is not None and status.alarm
    assert status.fault[0] == bad_id[0] and reason in status.fault[1]
    with pg.connect(dbs.query_url) as store:
        assert apply.load_checkpoint(store, FEED) == before
        # the good change in the same batch was not half-applied either
        assert store.execute("select count(*) from person_overview where person_id = 50").fetchone() == (0,)
    # once the bad row is removed the worker carries on and clears the fault
    with pg.connect(dbs.core_url) as core:
        core.execute("delete from core.chg_log where id = %s", bad_id)
        core.commit()
    worker.drain()
    assert worker.status().fault is None
    with pg.connect(dbs.query_url) as store:
        assert store.execute("select name from person_overview where person_id = 50").fetchone() == ("赵六",)
    worker.close()


def test_a_late_committing_transaction_is_not_skipped(dbs: Databases) -> None:
    """Commit order: the change with the lower id commits after a later one was synced."""
    worker = start_from_empty(dbs)
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core, persons=0)
        core.commit()
    worker.drain()
    slow = psycopg.connect(pg.libpq(dbs.core_url))
    fast = psycopg.connect(pg.libpq(dbs.core_url))
    try:
        core_rows.person(slow, 1, name="早写晚提交")  # takes the lower change id, stays open
        core_rows.person(fast, 2, name="晚写早提交")
        fast.commit()
        ids: dict[str, int] = dict(  # new_row->>'aac001': text, id: bigserial
            fast.execute("select new_row->>'aac001', id from core.chg_log where tbl = 'ac01'").fetchall()
        )
        assert ids == {"2": ids["2"]}  # the open transaction's row is invisible to others
        worker.drain()
        with pg.connect(dbs.query_url) as store:
            assert store.execute("select person_id from person_overview").fetchall() == [(2,)]
        slow.commit()
        ids = dict(fast.execute("select new_row->>'aac001', id from core.chg_log where tbl = 'ac01'").fetchall())
        assert ids["1"] < ids["2"]
        worker.drain()
        with pg.connect(dbs.query_url) as store:
            got = store.execute("select person_id from person_overview order by 1").fetchall()
            assert got == [(1,), (2,)]
    finally:
        slow.close()
        fast.close()
        worker.close()


def test_read_your_writes_token_and_pruning(dbs: Databases) -> None:
    worker = start_from_empty(dbs)
    with pg.connect(dbs.core_url) as core:
        core_rows.basics(core, persons=1)
        token_row = core.execute("select pg_current_xact_id()::text").fetchone()
        core.commit()
    assert token_row is not None
    token = int(cast(str, token_row[0]))  # pg_current_xact_id()::text
    with pg.connect(dbs.query_url) as store:
        cp = apply.load_checkpoint(store, FEED)
        assert cp is not None and not feed.visible(store, token, cp.prev_snapshot)
    worker.drain()
    with pg.connect(dbs.query_url) as store, pg.connect(dbs.core_url) as core:
        cp = apply.load_checkpoint(store, FEED)
        assert cp is not None and feed.visible(store, token, cp.prev_snapshot)
        # applied, but younger than the retention: kept
        assert feed.prune(core, cp, older_than_hours=1) == 0
        core.execute("update core.chg_log set changed_at = changed_at - interval '2 hours'")
        # an unapplied change (written after the checkpoint) is never pruned, however old
        core_rows.person(core, 2)
        core.execute("update core.chg_log set changed_at = now() - interval '3 hours' where tbl = 'ac01'")
        core.commit()
        removed = feed.prune(core, cp, older_than_hours=1)
        core.commit()
        assert removed == 5  # region, agency, 2 units, person 1 — not person 2
        left = core.execute("select new_row->>'aac001' from core.chg_log").fetchall()
        assert left == [("2",)]
    worker.close()
