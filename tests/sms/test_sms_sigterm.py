"""SIGTERM during a broadcast of long messages: the `hub sms run` worker stops cleanly without cutting one.

The worker (a separate process) sends four-segment notices to the real test SMSC through a slow bind (100
parts a second, at most five parts taken at a time), so at almost any moment one message has some segments
at the SMSC and the rest still queued. Each SIGTERM lands while segments are in flight; after each stop no
message has only some of its segments at the SMSC, none is failed ("interrupted between segments"), unknown
or left in flight, and the messages not begun are waiting to be sent. After the restarts the whole job is
delivered with every segment counted once by the SMSC.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from hub import pg
from hub.config.sms import SmsSettings
from hub.messaging import sealed
from sms import jobs, text
from tests.conftest import Databases
from tests.sms.helpers import query, wait
from tests.sms.smsc import Smsc
from tests.sms.test_sms_crash import in_flight, recoveries_so_far, start_worker

RECIPIENTS = 300
STOPS = 3
# 【湖南社保】 (6) + 200 characters = 206 UTF-16 units: more than three segments of 67 (201), so four.
CONTENT = "社保经办大厅年度通知：" + "请于本月底前携带身份证件到参保地经办机构核对个人参保信息并签字确认。" * 6
CONTENT = CONTENT[:200]
SEGMENTS = 4
SLOW_BIND = {"HUB_SMS__SMPP__WINDOW": "16", "HUB_SMS__SMPP__RATE_PER_BIND": "100"}


def phone(i: int) -> str:
    return f"1390{i:07d}"


def by_destination(smsc: Smsc) -> dict[str, Counter[int]]:
    """Per phone, how often the SMSC accepted each segment number."""
    out: dict[str, Counter[int]] = {}
    for (destination, _, seq), n in smsc.counts().items():
        out.setdefault(destination, Counter())[seq] += n
    return out


def assert_no_message_cut(dbs: Databases, smsc: Smsc, job: int) -> None:
    states = dict(query(dbs.hub_url, "select status, count(*) from hub.sms_message where job_id = %s group by 1", job))
    reasons = query(dbs.hub_url, "select distinct failure_reason from hub.sms_message where status = 'failed'")
    assert set(states) <= {"created", "sent", "delivered"}, (states, reasons)
    assert in_flight(dbs.hub_url) == 0
    received = by_destination(smsc)
    for destination, seqs in received.items():
        assert sorted(seqs) == list(range(1, SEGMENTS + 1)), (destination, seqs)  # all segments, never some
        assert set(seqs.values()) == {1}, (destination, seqs)  # each once
    with pg.connect(dbs.hub_url) as conn:
        rows = [(r["recipient"], r["status"]) for r in sealed.messages(conn, "job_id = %s", (job,))]
    for recipient, status in rows:
        # at the SMSC exactly when the hub recorded it sent (or delivered); the rest waits, untouched
        assert (status != "created") == (recipient in received), (recipient, status)


@pytest.mark.slow
def test_sigterm_mid_long_messages_finishes_them_and_sends_none_twice(dbs: Databases, tmp_path: Path) -> None:
    assert text.segment_count(text.sign("湖南社保", CONTENT)) == SEGMENTS
    rnd = random.Random(20261127)
    smsc = Smsc().start()
    worker: subprocess.Popen[bytes] | None = None
    finished_during_stop = 0
    try:
        people = [jobs.Recipient(phone(i), {"content": CONTENT}) for i in range(RECIPIENTS)]
        with pg.connect(dbs.hub_url) as conn:
            job = jobs.create_notice(conn, title="核对通知", recipients=people, created_by="op1", mandatory=True)
            assert jobs.preview(conn, job, SmsSettings()).segments == RECIPIENTS * SEGMENTS
            jobs.approve(conn, job, "rev1")
            jobs.start(conn, job)
            conn.commit()
        for stop in range(STOPS):
            worker = start_worker(dbs, smsc.port, tmp_path, SLOW_BIND)
            assert wait(lambda s=stop: recoveries_so_far(dbs.hub_url) == s + 1, timeout=120)  # type: ignore[misc]
            assert wait(lambda: in_flight(dbs.hub_url) > 0, timeout=120)
            time.sleep(rnd.uniform(0.1, 0.6))
            at_signal = by_destination(smsc)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(90) == 0
            worker = None
            after = by_destination(smsc)
            # messages some of whose segments were at the SMSC just before the signal, completed by the stop
            finished = sum(1 for d, seqs in at_signal.items() if len(seqs) < SEGMENTS and len(after[d]) == SEGMENTS)
            print(f"stop {stop}: {finished} long messages begun before the signal were finished")
            finished_during_stop += finished
            assert_no_message_cut(dbs, smsc, job)
        assert finished_during_stop >= 1  # the stops did land in the middle of long messages

        worker = start_worker(dbs, smsc.port, tmp_path, SLOW_BIND)
        assert wait(
            lambda: query(dbs.hub_url, "select status from hub.sms_job where id = %s", job)[0][0] == "done", timeout=600
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(90) == 0
        worker = None
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(30)
        smsc.stop()
    assert_no_message_cut(dbs, smsc, job)
    assert len(by_destination(smsc)) == RECIPIENTS  # everyone got the whole notice, once
    recoveries = query(dbs.hub_url, "select (detail->>'segments')::int from hub.sms_event where kind = 'recovery'")
    assert [int(r[0]) for r in recoveries] == [0] * (STOPS + 1)  # a clean stop leaves nothing in flight
