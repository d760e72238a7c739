"""The worker with the file transport: states, limits, budget, opt-out, the send window, receipts."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from hub import pg
from hub.config.sms import LimitSettings, SmsSettings
from hub.messaging import outbox
from hub.messaging.outbox import Priority
from sms import jobs, store
from sms.transport import Accepted, FileTransport, Receipt
from sms.worker import Worker
from tests.conftest import Databases
from tests.sms.helpers import NOON, all_in, enqueue_many, query, running, statuses, wait

NIGHT = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 22:00 in Asia/Shanghai


def file_settings(tmp_path: Path, **kw: object) -> SmsSettings:
    return SmsSettings(transport="file", file_path=tmp_path / "outbox.jsonl", poll_seconds=0.05, **kw)


def test_file_transport_writes_one_line_per_message(dbs: Databases, tmp_path: Path) -> None:
    ids = enqueue_many(dbs.hub_url, ["13812345678"], "verification_code", {"code": "246810"}, priority=Priority.CODE)
    cfg = file_settings(tmp_path)
    with running(dbs.hub_url, FileTransport(tmp_path / "outbox.jsonl"), cfg):
        assert wait(all_in(dbs.hub_url, {"delivered"}))
    lines = [json.loads(x) for x in (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["to"] == "13812345678" and lines[0]["message_id"] == ids[0]
    assert lines[0]["text"].startswith("【湖南社保】您的验证码为246810")
    row = query(
        dbs.hub_url, "select sender, segments, cost, sent_at is not null, delivered_at is not null from hub.sms_message"
    )[0]
    assert row == ("湖南社保", 1, Decimal("0.0450"), True, True)


def test_limits_per_number_prefix_and_ip(dbs: Databases, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sms")
    limits = LimitSettings(per_number_minute=1, per_number_hour=5, per_number_day=10, per_prefix_hour=3, per_ip_hour=2)
    enqueue_many(dbs.hub_url, ["13800001111"] * 3, "verification_code", {"code": "1"}, priority=Priority.CODE)
    enqueue_many(
        dbs.hub_url,
        ["13900002001", "13900002002", "13900002003", "13900002004"],
        "verification_code",
        {"code": "2"},
        priority=Priority.CODE,
    )
    enqueue_many(
        dbs.hub_url,
        ["13700000001", "13700010002", "13700020003"],
        "verification_code",
        {"code": "3"},
        priority=Priority.CODE,
        requester_ip="10.1.2.3",
    )
    cfg = file_settings(tmp_path, limits=limits)
    with running(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), cfg):
        assert wait(all_in(dbs.hub_url, {"delivered", "failed"}))
    rows = query(dbs.hub_url, "select recipient, status, failure_reason from hub.sms_message order by id")
    reasons = [r[2] for r in rows]
    assert reasons[:3] == [None, "number_minute", "number_minute"]
    assert reasons[3:7] == [None, None, None, "prefix_hour"]
    assert reasons[7:] == [None, None, "ip_hour"]
    assert "13800001111" not in caplog.text and "138****1111" in caplog.text


def test_daily_budget_stops_sending_and_alerts(
    dbs: Databases, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    enqueue_many(dbs.hub_url, [f"1380000{i:04d}" for i in range(5)], "staff_notice", {"content": "通知"})
    cfg = file_settings(tmp_path, limits=LimitSettings(daily_budget_yuan=Decimal("0.1")))
    with running(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), cfg) as worker:
        assert wait(lambda: statuses(dbs.hub_url).get("delivered") == 2)
        assert wait(lambda: worker.stats.budget_stopped)
    assert statuses(dbs.hub_url) == {"delivered": 2, "created": 3}
    assert query(dbs.hub_url, "select count(*) from hub.sms_event where kind = 'budget_spent'")[0][0] == 1
    assert "ALERT" in caplog.text


def test_opt_out_applies_to_non_mandatory_messages_only(dbs: Databases, tmp_path: Path) -> None:
    with pg.connect(dbs.hub_url) as conn:
        outbox.opt_out(conn, "13811112222", "test")
        conn.commit()
    enqueue_many(dbs.hub_url, ["13811112222"], "staff_notice", {"content": "活动"}, mandatory=False)
    enqueue_many(
        dbs.hub_url, ["13811112222"], "business_done", {"business": "退休申请", "reference": "A1", "result": "通过"}
    )
    cfg = file_settings(tmp_path)
    with running(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), cfg):
        assert wait(all_in(dbs.hub_url, {"delivered", "failed"}))
    rows = query(dbs.hub_url, "select template, status, failure_reason from hub.sms_message order by id")
    assert rows == [("staff_notice", "failed", "opted_out"), ("business_done", "delivered", None)]


def upload(n: int) -> str:
    return "phone,content\n" + "".join(
        f"1590000{i:04d},第{i}号通知：请于月底前完成年度缴费基数申报。\n" for i in range(n)
    )


def test_broadcast_needs_a_second_approver_and_waits_for_the_window(dbs: Databases, tmp_path: Path) -> None:
    cfg = file_settings(tmp_path)
    with pg.connect(dbs.hub_url) as conn:
        with pytest.raises(jobs.JobError, match="第3行"):
            jobs.create_from_upload(
                conn, title="t", template="staff_notice", data=upload(1) + "12345,x\n", created_by="a"
            )
        job = jobs.create_from_upload(
            conn, title="通知", template="staff_notice", data=upload(30) + upload(2)[14:], created_by="operator1"
        )
        with pytest.raises(jobs.JobError, match="预览"):
            jobs.approve(conn, job, "reviewer1")
        p = jobs.preview(conn, job, cfg)
        assert p.recipients == 30 and p.segments == 30 and p.cost == Decimal("1.350")
        assert p.samples[0].startswith("159****0000：【湖南社保】第0号通知") and p.samples[0].endswith("拒收请回复R")
        with pytest.raises(jobs.JobError, match="创建人以外"):
            jobs.approve(conn, job, "operator1")
        with pytest.raises(jobs.JobError):
            jobs.start(conn, job)
        jobs.approve(conn, job, "reviewer1")
        jobs.start(conn, job)
        conn.commit()
    night = FileTransport(tmp_path / "o.jsonl")
    enqueue_many(dbs.hub_url, ["13812340000"], "verification_code", {"code": "9"}, priority=Priority.CODE)
    with running(dbs.hub_url, night, cfg, clock=lambda: NIGHT):
        assert wait(lambda: statuses(dbs.hub_url).get("delivered") == 1)  # the code goes out at night
    assert statuses(dbs.hub_url) == {"delivered": 1, "created": 30}
    with running(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), cfg, clock=lambda: NOON):
        assert wait(all_in(dbs.hub_url, {"delivered"}))
        assert wait(lambda: query(dbs.hub_url, "select status from hub.sms_job")[0][0] == "done")
    with pg.connect(dbs.hub_url) as conn:
        prog = jobs.progress(conn, job)
    assert prog.total == 30 and prog.finished == 30


def test_paused_job_is_not_sent_and_resumes(dbs: Databases, tmp_path: Path) -> None:
    cfg = file_settings(tmp_path)
    with pg.connect(dbs.hub_url) as conn:
        job = jobs.create_from_upload(
            conn, title="通知", template="staff_notice", data=upload(20), created_by="a", rate_per_second=5
        )
        jobs.preview(conn, job, cfg)
        jobs.approve(conn, job, "b")
        jobs.start(conn, job)
        conn.commit()
    with running(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), cfg):
        assert wait(lambda: statuses(dbs.hub_url).get("delivered", 0) >= 1)
        with pg.connect(dbs.hub_url) as conn:
            jobs.pause(conn, job)
            conn.commit()
        settled_at_pause = statuses(dbs.hub_url).get("created", 0)
        assert settled_at_pause > 0  # 5/s: not all sent before the pause
        with pg.connect(dbs.hub_url) as conn:
            jobs.start(conn, job)
            conn.commit()
        assert wait(all_in(dbs.hub_url, {"delivered"}))


def test_early_duplicate_and_unknown_receipts(dbs: Databases) -> None:
    enqueue_many(dbs.hub_url, ["13800000000"], "verification_code", {"code": "1"})
    with pg.connect(dbs.hub_url) as conn:
        mid = query(dbs.hub_url, "select id from hub.sms_message")[0][0]
        conn.execute("update hub.sms_message set status = 'queued' where id = %s", (mid,))
        conn.execute("insert into hub.sms_segment (message_id, seq) values (%s, 1)", (mid,))
        early = store.apply(conn, [Receipt("abc", "DELIVRD", "000"), Receipt("zzz", "DELIVRD", None)])
        assert early.orphan_receipts == 2
        store.apply(conn, [Accepted((mid, 1), "abc", "bind0")])
        conn.commit()
        assert outbox.status(conn, mid) == outbox.Status.DELIVERED
        dup = store.apply(conn, [Receipt("abc", "DELIVRD", "000")])
        assert dup.duplicate_receipts == 1
    rows = query(dbs.hub_url, "select smpp_id, matched_at is not null from hub.sms_receipt_orphan order by smpp_id")
    assert rows == [("abc", True), ("zzz", False)]


def test_recovery_marks_in_flight_unknown(dbs: Databases, tmp_path: Path) -> None:
    enqueue_many(dbs.hub_url, ["13800000000", "13800000001"], "verification_code", {"code": "1"})
    with pg.connect(dbs.hub_url) as conn:
        conn.execute("update hub.sms_message set status = 'queued'")
        conn.execute("insert into hub.sms_segment (message_id, seq) select id, 1 from hub.sms_message")
        conn.commit()
    worker = Worker(dbs.hub_url, FileTransport(tmp_path / "o.jsonl"), file_settings(tmp_path))
    worker.open()
    worker.close()
    assert worker.stats.recovered_unknown == 2
    assert statuses(dbs.hub_url) == {"unknown": 2}


def test_late_accept_in_the_same_batch_as_its_unknown_leaves_the_message_sent(dbs: Databases) -> None:
    from sms.transport import LateAccepted, Unknown

    enqueue_many(dbs.hub_url, ["13800000000"], "verification_code", {"code": "1"})
    with pg.connect(dbs.hub_url) as conn:
        mid = query(dbs.hub_url, "select id from hub.sms_message")[0][0]
        conn.execute("update hub.sms_message set status = 'queued' where id = %s", (mid,))
        conn.execute("insert into hub.sms_segment (message_id, seq) values (%s, 1)", (mid,))
        # the receipt overtook the late accept: kept as an orphan, matched when the accept comes
        store.apply(conn, [Receipt("late1", "DELIVRD", "000")])
        store.apply(conn, [Unknown((mid, 1), "response timeout", "bind0"), LateAccepted((mid, 1), "late1", "bind0")])
        conn.commit()
        assert outbox.status(conn, mid) == outbox.Status.DELIVERED
    assert query(dbs.hub_url, "select status, smpp_id from hub.sms_segment") == [("delivered", "late1")]


def test_late_accept_never_touches_a_part_submitted_again(dbs: Databases) -> None:
    from sms.transport import LateAccepted

    enqueue_many(dbs.hub_url, ["13800000000"], "verification_code", {"code": "1"})
    with pg.connect(dbs.hub_url) as conn:
        mid = query(dbs.hub_url, "select id from hub.sms_message")[0][0]
        # resent by a job's policy: the new submit of the part is in flight under its own state
        conn.execute("update hub.sms_message set status = 'queued' where id = %s", (mid,))
        conn.execute("insert into hub.sms_segment (message_id, seq) values (%s, 1)", (mid,))
        store.apply(conn, [LateAccepted((mid, 1), "old1", "bind0")])
        conn.commit()
    assert query(dbs.hub_url, "select status, smpp_id from hub.sms_segment") == [("submitting", None)]
    assert statuses(dbs.hub_url) == {"queued": 1}


def test_parts_not_sent_return_a_whole_message_to_the_queue_and_fail_a_cut_one(dbs: Databases) -> None:
    from sms.transport import NotSent

    enqueue_many(dbs.hub_url, ["13800000001", "13800000002"], "staff_notice", {"content": "通知"})
    whole, cut = (int(r[0]) for r in query(dbs.hub_url, "select id from hub.sms_message order by id"))
    with pg.connect(dbs.hub_url) as conn:
        conn.execute("update hub.sms_message set status = 'queued', queued_at = now()")
        conn.execute(
            "insert into hub.sms_segment (message_id, seq) select id, g from hub.sms_message, generate_series(1, 3) g"
        )
        # the cut message's first part reached the SMSC before the transport stopped
        store.apply(conn, [Accepted((cut, 1), "c1", "bind0")])
        # every part of ``whole`` in one batch (as the transport reports them), the rest of ``cut`` with them
        store.apply(
            conn, [NotSent((whole, 1)), NotSent((whole, 2)), NotSent((whole, 3)), NotSent((cut, 2)), NotSent((cut, 3))]
        )
        conn.commit()
    rows = query(dbs.hub_url, "select id, status, failure_reason, queued_at is null from hub.sms_message order by id")
    assert rows == [(whole, "created", None, True), (cut, "failed", "interrupted between segments", False)]
    assert query(dbs.hub_url, "select message_id, seq, status from hub.sms_segment") == [(cut, 1, "sent")]
