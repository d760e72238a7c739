"""The worker and its SMPP transport against a real SMPP peer (smpp34 on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sms.smpp import SmppTransport
from tests.conftest import Databases
from tests.sms.helpers import all_in, enqueue_many, query, running, settings, statuses, wait
from tests.sms.smsc import Smsc

LONG = "尊敬的参保人：" + "您的个人权益记录已更新，请登录查看。" * 8 + "𠮷"


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    peer = Smsc().start()
    yield peer
    peer.stop()


def phones(n: int, start: int = 13800000000) -> list[str]:
    return [str(start + i) for i in range(n)]


def test_codes_are_delivered_with_receipts(dbs: Databases, smsc: Smsc) -> None:
    enqueue_many(dbs.hub_url, phones(20), "verification_code", {"code": "123456"})
    cfg = settings(smsc.port)
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg):
        assert wait(all_in(dbs.hub_url, {"delivered"}))
    assert statuses(dbs.hub_url) == {"delivered": 20}
    submits = smsc.snapshot()
    assert len(submits) == 20
    assert all(s.text.startswith("【湖南社保】您的验证码为123456") for s in submits)
    assert all(s.text.count("【") == 1 for s in submits)


def test_long_chinese_messages_are_delivered_only_when_every_segment_is(dbs: Databases) -> None:
    # receipts for every segment except the last one of messages to 139…: those stay 'sent'
    peer = Smsc(receipt_filter=lambda s: not (s.destination.startswith("139") and s.udh and s.udh[2] == s.udh[1]))
    peer.start()
    try:
        same = ["13800000001"] * 3
        enqueue_many(dbs.hub_url, [*same, "13900000001"], "staff_notice", {"content": LONG})
        cfg = settings(peer.port)
        with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg):
            assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 3, "sent": 1})
            assert wait(
                lambda: (
                    query(dbs.hub_url, "select count(*) from hub.sms_segment where status = 'delivered'")[0][0] == 11
                )
            )
        submits = peer.snapshot()
    finally:
        peer.stop()
    assert len(submits) == 12  # 4 messages × 3 segments
    by_ref: dict[tuple[str, int], list[str]] = {}
    for s in submits:
        assert s.udh is not None and s.udh[1] == 3
        by_ref.setdefault((s.destination, s.udh[0]), []).append(s.text)
    # three long messages to one phone: three different reference numbers
    assert len([k for k in by_ref if k[0] == "13800000001"]) == 3
    for pieces in by_ref.values():
        assert len(pieces) == 3
    full = "【湖南社保】" + LONG
    assert sorted("".join(p) for p in by_ref.values()) == sorted([full] * 4) or all(
        sorted(p) == sorted(text_parts(full)) for p in by_ref.values()
    )
    rows = query(dbs.hub_url, "select segments, cost from hub.sms_message")
    assert all(int(r[0]) == 3 and str(r[1]) == "0.1350" for r in rows)


def text_parts(value: str) -> list[str]:
    from sms.text import split

    return split(value)


def test_throttled_and_queue_full_slow_down_and_retry(dbs: Databases, smsc: Smsc) -> None:
    smsc.throttle(6, 0x58)
    smsc.throttle(4, 0x14)
    enqueue_many(dbs.hub_url, phones(40), "verification_code", {"code": "654321"})
    cfg = settings(smsc.port)
    transport = SmppTransport(cfg.smpp)
    with running(dbs.hub_url, transport, cfg):
        assert wait(all_in(dbs.hub_url, {"delivered"}))
    assert smsc.rejected == 10
    assert transport.throttled == 10
    counts = smsc.counts()
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_dropped_connection_mid_window_marks_in_flight_unknown_and_reconnects(dbs: Databases, smsc: Smsc) -> None:
    smsc.hold(5)
    enqueue_many(dbs.hub_url, phones(30), "verification_code", {"code": "111111"})
    cfg = settings(smsc.port, response_timeout=60.0)
    transport = SmppTransport(cfg.smpp)
    with running(dbs.hub_url, transport, cfg):
        assert wait(lambda: smsc.held == 5 and statuses(dbs.hub_url).get("delivered", 0) == 25)
        smsc.cut()
        assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 25, "unknown": 5})
        assert wait(lambda: transport.binds_made >= 2)
        # the new bind works
        enqueue_many(dbs.hub_url, phones(3, 13700000000), "verification_code", {"code": "222222"})
        assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 28, "unknown": 5})
    rows = query(dbs.hub_url, "select failure_reason from hub.sms_message where status = 'unknown'")
    assert {r[0] for r in rows} == {"connection lost"}
    assert sum(smsc.counts().values()) == 28  # the held ones were never accepted


def test_response_timeout_marks_unknown_without_resending(dbs: Databases, smsc: Smsc) -> None:
    smsc.hold(2)
    enqueue_many(dbs.hub_url, phones(6), "verification_code", {"code": "333333"})
    cfg = settings(smsc.port, response_timeout=1.0)
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg):
        assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 4, "unknown": 2})
    assert sum(smsc.counts().values()) == 4


def test_failed_prefix_and_duplicate_receipts(dbs: Databases) -> None:
    peer = Smsc(fail_prefix="1370", duplicate_receipts=True).start()
    try:
        enqueue_many(dbs.hub_url, phones(5) + phones(3, 13700000000), "verification_code", {"code": "444444"})
        cfg = settings(peer.port)
        with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg) as worker:
            assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 5, "failed": 3})
            assert wait(lambda: worker.stats.duplicate_receipts == 8)
    finally:
        peer.stop()
    rows = query(
        dbs.hub_url, "select distinct failure_kind, failure_reason from hub.sms_message where status = 'failed'"
    )
    assert rows == [("permanent", "receipt UNDELIV")]


def test_codes_go_ahead_of_bulk(dbs: Databases, smsc: Smsc) -> None:
    from hub.messaging.outbox import Priority

    enqueue_many(dbs.hub_url, phones(100), "staff_notice", {"content": "年度通知"}, priority=Priority.BULK)
    enqueue_many(dbs.hub_url, phones(5, 13600000000), "verification_code", {"code": "555555"}, priority=Priority.CODE)
    cfg = settings(smsc.port, window=4)
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg):
        assert wait(all_in(dbs.hub_url, {"delivered"}))
    # a window of 4 may reorder within itself, never across it
    first = smsc.snapshot()[:8]
    assert sum(1 for s in first if s.destination.startswith("136")) == 5


def test_late_accept_after_the_timeout_records_the_smsc_id_without_resending(dbs: Databases, smsc: Smsc) -> None:
    smsc.hold(2)
    enqueue_many(dbs.hub_url, phones(6), "verification_code", {"code": "777777"})
    # A late accept is taken within one more response timeout after the part became unknown: release at once.
    cfg = settings(smsc.port, response_timeout=5.0)
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg):
        assert wait(lambda: statuses(dbs.hub_url).get("unknown") == 2)
        assert smsc.held == 2
        smsc.release()  # the SMSC answers the two submits after the hub gave up waiting
        assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 6})
    counts = smsc.counts()
    assert len(counts) == 6 and set(counts.values()) == {1}  # nothing was sent twice
    # every segment carries the id the SMSC gave it, so each receipt matched its segment
    recorded = {str(r[0]) for r in query(dbs.hub_url, "select smpp_id from hub.sms_segment")}
    assert recorded == {s.message_id for s in smsc.snapshot()}
    assert query(dbs.hub_url, "select count(*) from hub.sms_receipt_orphan")[0][0] == 0


def test_late_accept_of_one_segment_completes_the_long_message(dbs: Databases, smsc: Smsc) -> None:
    smsc.hold(1)  # one of the three segments is answered late
    enqueue_many(dbs.hub_url, ["13800000009"], "staff_notice", {"content": LONG})
    cfg = settings(smsc.port, response_timeout=5.0)
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg):
        assert wait(lambda: statuses(dbs.hub_url) == {"unknown": 1})
        # the segment the SMSC took first is held (smpp34 may take the three in any order)
        states = sorted(str(r[0]) for r in query(dbs.hub_url, "select status from hub.sms_segment"))
        assert states[-1] == "unknown" and set(states[:2]) <= {"sent", "delivered"}
        smsc.release()
        assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 1})
    assert sorted(smsc.counts().values()) == [1, 1, 1]
    rows = query(
        dbs.hub_url, "select failure_reason, sent_at is not null, delivered_at is not null from hub.sms_message"
    )
    assert rows == [(None, True, True)]
