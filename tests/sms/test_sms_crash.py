"""The crash test: SIGKILL the `hub sms run` worker at random moments during a 10,000-recipient broadcast.

The SMSC (a real SMPP peer in this process) counts every submit it accepts. The kills come from this
process while the worker (a separate process) has submits in flight. In the end: nobody got a segment
twice, every message the SMSC counted is one the hub records as sent, delivered or unknown, every
recipient has exactly one message in an explicit final state, and the unknown ones are exactly those the
restarts found in flight (at most the window per crash), never resent (the rights statement's policy).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hub import pg
from hub.config.sms import SmsSettings
from hub.messaging import sealed
from sms import jobs
from tests.conftest import Databases
from tests.sms.helpers import query, wait
from tests.sms.smsc import Smsc

RECIPIENTS = 10_000
KILLS = 5
WINDOW = 32


def start_worker(dbs: Databases, port: int, var: Path, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=dbs.core_url,
        HUB_HUB_DB_URL=dbs.hub_url,
        HUB_QUERY_DB_URL=dbs.query_url,
        HUB_REDIS_URL=dbs.redis_url,
        HUB_VAR_DIR=str(var),
        HUB_SMS__TRANSPORT="smpp",
        HUB_SMS__SMPP__PORT=str(port),
        HUB_SMS__SMPP__WINDOW=str(WINDOW),
        HUB_SMS__SMPP__RECONNECT_MIN_SECONDS="0.1",
        HUB_SMS__WINDOW_START="00:00",
        HUB_SMS__WINDOW_END="00:00",
        HUB_SMS__LIMITS__DAILY_BUDGET_YUAN="1000000",
    )
    env.update(extra or {})
    return subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "sms", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def recipients() -> list[jobs.Recipient]:
    return [
        jobs.Recipient(
            f"1{random.Random(i).choice('3589')}{i:09d}",
            {
                "name": "张三丰",
                "year": "2025",
                "months": "12",
                "person_amount": f"{8000 + i % 997}.00",
                "to_account": f"{8000 + i % 997}.00",
                "annuity_amount": "4000.00",
            },
        )
        for i in range(RECIPIENTS)
    ]


def in_flight(url: str) -> int:
    return int(query(url, "select count(*) from hub.sms_segment where status = 'submitting'")[0][0])


def recoveries_so_far(url: str) -> int:
    return int(query(url, "select count(*) from hub.sms_event where kind = 'recovery'")[0][0])


@pytest.mark.slow
def test_broadcast_survives_sigkill_without_sending_twice(dbs: Databases, tmp_path: Path) -> None:
    rnd = random.Random(20261127)
    smsc = Smsc().start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        people = recipients()
        with pg.connect(dbs.hub_url) as conn:
            job = jobs.create_rights_statement(
                conn, year=2025, created_by="op1", recipients=people, rate_per_second=1500
            )
            preview = jobs.preview(conn, job, SmsSettings())
            jobs.approve(conn, job, "rev1")
            jobs.start(conn, job)
            conn.commit()
        assert preview.recipients == RECIPIENTS
        kills = 0
        seen_in_flight = 0
        worker = start_worker(dbs, smsc.port, tmp_path)
        while kills < KILLS:
            # the (re)started worker has recovered before it is killed again
            assert wait(lambda k=kills: recoveries_so_far(dbs.hub_url) == k + 1, timeout=120)  # type: ignore[misc]
            # a random moment while the worker has submits in flight
            assert wait(lambda: in_flight(dbs.hub_url) > 0, timeout=120)
            time.sleep(rnd.uniform(0.05, 0.8))
            if in_flight(dbs.hub_url) > 0:
                seen_in_flight += 1
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
            kills += 1
            worker = start_worker(dbs, smsc.port, tmp_path)
        assert wait(
            lambda: query(dbs.hub_url, "select status from hub.sms_job where id = %s", job)[0][0] == "done", timeout=600
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        worker = None
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(30)
        smsc.stop()

    # the restarts: one recovery per start, each found at most the window in flight
    recoveries = query(
        dbs.hub_url,
        "select (detail->>'segments')::int, (detail->>'messages')::int from hub.sms_event "
        "where kind = 'recovery' order by id",
    )
    assert len(recoveries) == KILLS + 1  # the first start and one per kill
    landed_in_flight = sum(1 for seg, _ in recoveries if seg > 0)
    assert landed_in_flight >= 3, recoveries  # kills are aimed at moments with submits in flight
    assert all(seg <= WINDOW for seg, _ in recoveries)

    states = dict(query(dbs.hub_url, "select status, count(*) from hub.sms_message where job_id = %s group by 1", job))
    assert set(states) <= {"sent", "delivered", "unknown"}
    assert sum(states.values()) == RECIPIENTS  # exactly one message per recipient (unique per job)
    assert states.get("unknown", 0) == sum(m for _, m in recoveries)

    counted = smsc.counts()
    duplicates = sum(n - 1 for n in counted.values() if n > 1)
    assert duplicates == 0
    with pg.connect(dbs.hub_url) as conn:
        rows = sealed.messages(conn, "job_id = %s", (job,))  # the numbers are sealed: opened here
    hub_state = {str(r["recipient"]): str(r["status"]) for r in rows}
    segments = {str(r["recipient"]): int(r["segments"] or 0) for r in rows}
    by_phone = Counter(dest for dest, _, _ in counted)
    for phone in by_phone:
        assert hub_state[phone] in ("sent", "delivered", "unknown")
    for phone, status in hub_state.items():
        if status in ("sent", "delivered"):
            assert by_phone[phone] == segments[phone]  # every segment reached the SMSC, once
    print(f"kills={kills} seen_in_flight={seen_in_flight} landed_in_flight={landed_in_flight} states={states}")
