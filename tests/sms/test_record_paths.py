"""The recorder's cheaper paths: concatenation references taken for a batch in one statement, the segment
receipt written as a HOT update (migration 0026), the recovery reading the parts in flight by ``acked_at``."""

from __future__ import annotations

from pathlib import Path

from hub import pg
from hub.config.sms import SmsSettings
from hub.messaging import sealed
from sms import store
from sms.transport import Accepted, FileTransport, Receipt
from sms.worker import Worker
from tests.conftest import Databases
from tests.sms.helpers import enqueue_many, query


def test_a_batch_takes_consecutive_references_per_number_and_wraps_at_255(dbs: Databases, tmp_path: Path) -> None:
    worker = Worker(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), SmsSettings(transport="file"))
    with pg.connect(dbs.hub_url) as conn:
        keyring = sealed.for_writing(conn)
        a, b, c = (sealed.number_index(keyring, p) for p in ("13900000001", "13900000002", "13900000003"))
        conn.execute("insert into hub.sms_concat_ref_bidx (recipient_bidx, last_ref) values (%s, 254), (%s, 9)", (a, c))
        worker._conn = conn
        # a: 254 → 255, 1, 2 (wraps); b: new → 1, 2; c: 9 → 10
        assert worker._next_refs([a, b, a, c, a, b]) == [255, 1, 1, 10, 2, 2]
        assert worker._next_refs([]) == []
        assert worker._next_refs([b]) == [3]
        stored = conn.execute("select recipient_bidx, last_ref from hub.sms_concat_ref_bidx").fetchall()
        assert {bytes(k): int(str(v)) for k, v in stored if isinstance(k, bytes)} == {a: 2, b: 3, c: 10}
        conn.rollback()


def test_the_receipt_of_a_segment_is_a_hot_update_and_recovery_reads_acked_at(dbs: Databases) -> None:
    ids = enqueue_many(dbs.hub_url, ["13811110001", "13811110002"], "verification_code", {"code": "1"})
    with pg.connect(dbs.hub_url) as conn:
        for mid in ids:
            conn.execute("update hub.sms_message set status = 'queued', segments = 1 where id = %s", (mid,))
            conn.execute("insert into hub.sms_segment (message_id, seq) values (%s, 1)", (mid,))
        conn.commit()
        store.apply(conn, [Accepted((ids[0], 1), "s-1", "b0")])
        conn.commit()
        before = conn.execute(
            "select n_tup_hot_upd from pg_stat_user_tables where relid = 'hub.sms_segment'::regclass"
        ).fetchone()
        store.apply(conn, [Receipt("s-1", "DELIVRD", None, None)])
        conn.commit()
        conn.execute("select pg_stat_force_next_flush()")
        conn.commit()
    with pg.connect(dbs.hub_url) as conn:
        after = conn.execute(
            "select n_tup_hot_upd from pg_stat_user_tables where relid = 'hub.sms_segment'::regclass"
        ).fetchone()
    assert before is not None and after is not None
    assert (
        int(str(after[0])) - int(str(before[0])) == 1
    )  # status, receipt_stat, receipt_error and receipt_at are in no index
    assert query(dbs.hub_url, "select status from hub.sms_message order by id") == [("delivered",), ("queued",)]
    # the second message's part is still in flight: the recovery finds it (acked_at is null), not the first
    with pg.connect(dbs.hub_url) as conn:
        assert store.recover(conn) == (1, 1)
        conn.commit()
    assert query(dbs.hub_url, "select status from hub.sms_segment order by message_id") == [
        ("delivered",),
        ("unknown",),
    ]


def test_an_early_failed_receipt_fails_its_message_when_the_accepts_come(dbs: Databases) -> None:
    ids = enqueue_many(dbs.hub_url, ["13811110003"], "verification_code", {"code": "1"})
    mid = ids[0]
    with pg.connect(dbs.hub_url) as conn:
        conn.execute("update hub.sms_message set status = 'queued', segments = 2 where id = %s", (mid,))
        conn.execute("insert into hub.sms_segment (message_id, seq) values (%s, 1), (%s, 2)", (mid, mid))
        # part 2's receipt overtakes both submit_sm_resp, twice; part 1's comes with the accepts
        early = store.apply(conn, [Receipt("p2", "UNDELIV", "001"), Receipt("p2", "UNDELIV", "001")])
        assert (early.orphan_receipts, early.duplicate_receipts) == (1, 1)
        conn.commit()
        applied = store.apply(
            conn, [Accepted((mid, 1), "p1", "b0"), Accepted((mid, 2), "p2", "b1"), Receipt("p1", "DELIVRD", None)]
        )
        conn.commit()
        assert sorted(applied.settled) == [(mid, 1), (mid, 2)] and applied.orphan_receipts == 0
    segments = query(dbs.hub_url, "select seq, status, receipt_stat from hub.sms_segment order by seq")
    assert segments == [(1, "delivered", "DELIVRD"), (2, "failed", "UNDELIV")]
    message = query(dbs.hub_url, "select status, failure_kind, failure_reason from hub.sms_message")
    assert message == [("failed", "permanent", "receipt UNDELIV")]
    assert query(dbs.hub_url, "select count(*) from hub.sms_receipt_orphan where matched_at is null") == [(0,)]
