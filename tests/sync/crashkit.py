"""Shared by the crash test and its benchmark: a burst of core changes and a killer of the sync worker.

The worker runs as a real process (``hub sync run``) and is killed with SIGKILL. A kill counts as
"mid-batch" when, right before it, the worker's store session had an open transaction (a batch was
being written but not committed), read from pg_stat_activity.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from hub import pg

UNITS = 5


@dataclass
class KillLog:
    kills: int = 0
    mid_batch: int = 0
    restarts: int = 0
    samples: list[str] = field(default_factory=list)


def start_worker(core_url: str, store_url: str, batch_size: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=core_url,
        HUB_HUB_DB_URL=core_url,
        HUB_QUERY_DB_URL=store_url,
        HUB_SYNC__BATCH_SIZE=str(batch_size),
        HUB_SYNC__IDLE_WAIT_SECONDS="0.2",
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "sync", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed_minimal(core_url: str) -> None:
    with pg.connect(core_url) as core:
        core.execute(
            "insert into core.ya_region values ('370102', '济南市历下区', '370000');"
            "insert into core.ae10 values (1, '历下区社会保险事业中心', '370102', '泉城路1号', '0531-12333', "
            "117.02, 36.66, '{}')"
        )
        for u in range(1, UNITS + 1):
            core.execute(
                "insert into core.ab01 (aab001, uscc, aab004, aab019, funding, collection, aab034, aaa027, "
                "contact_name, contact_phone, address) values (%s, %s, %s, '30', '1', '1', 1, '370102', "
                "'王芳', '13800000000', '泉城路')",
                (u, f"1137010200000000{u:02d}", f"单位{u}"),
            )
        core.commit()


class Burst:
    """Writes ``target`` changes into the core from ``writers`` threads in small random transactions."""

    def __init__(self, core_url: str, target: int, writers: int = 2, seed: int = 7) -> None:
        self.core_url = core_url
        self.target = target
        self.writers = writers
        self.seed = seed
        self.written = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for w in range(self.writers):
            t = threading.Thread(target=self._run, args=(w,), daemon=True)
            t.start()
            self._threads.append(t)

    def join(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout)

    @property
    def done(self) -> bool:
        return all(not t.is_alive() for t in self._threads)

    def _run(self, writer: int) -> None:
        rnd = random.Random(self.seed * 100 + writer)
        base_person = writer * 1_000_000
        next_person = base_person
        next_detail = base_person
        persons: list[int] = []
        details: list[int] = []
        with psycopg.connect(pg.libpq(self.core_url)) as conn:
            while True:
                with self._lock:
                    if self.written >= self.target:
                        return
                statements = rnd.randint(1, 8)
                made = 0
                for _ in range(statements):
                    made += self._one(conn, rnd, persons, details, next_person, next_detail)
                    next_person, next_detail = (
                        max([next_person, *persons]) + 1,
                        max([next_detail, *details]) + 1,
                    )
                conn.commit()
                with self._lock:
                    self.written += made

    @staticmethod
    def _one(
        conn: psycopg.Connection[Any],
        rnd: random.Random,
        persons: list[int],
        details: list[int],
        next_person: int,
        next_detail: int,
    ) -> int:
        roll = rnd.random()
        if roll < 0.15 or not persons:
            conn.execute(
                "insert into core.ac01 (aac001, aac002, aac003, aac004, aac006, aac007, aac067, aaa027) "
                "values (%s, %s, %s, '1', %s, %s, %s, '370102')",
                (
                    next_person,
                    f"X{next_person:017d}",
                    "测试",
                    date(1980, 1, 1),
                    date(2002, 7, 1),
                    "13900000000",
                ),
            )
            persons.append(next_person)
            return 1
        if roll < 0.45 or not details:
            p = rnd.choice(persons)
            base = Decimal(rnd.randrange(500000, 3000000)) / 100
            unit_amt = (base * Decimal("0.16")).quantize(Decimal("0.01"))
            person_amt = (base * Decimal("0.08")).quantize(Decimal("0.01"))
            conn.execute(
                "insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, "
                "aae022, to_account, real_account, aae078) "
                "values (%s, %s, %s, %s, %s, '10', %s, %s, %s, %s, %s, %s, %s)",
                (
                    next_detail,
                    p,
                    rnd.randint(1, UNITS),
                    rnd.choice(["120", "116"]),
                    202400 + rnd.randint(1, 12),
                    base,
                    base,
                    unit_amt,
                    person_amt,
                    person_amt,
                    rnd.random() < 0.7,
                    rnd.choice("01"),
                ),
            )
            details.append(next_detail)
            return 1
        if roll < 0.80:
            # repeated updates of the same few keys
            d = rnd.choice(details[:20] if rnd.random() < 0.5 else details)
            cur = conn.execute(
                "update core.ac43 set aae078 = %s, aae003 = %s, aab001 = %s where detail_id = %s",
                (rnd.choice("01"), 202400 + rnd.randint(1, 12), rnd.randint(1, UNITS), d),
            )
            return cur.rowcount
        if roll < 0.90:
            p = rnd.choice(persons)
            cur = conn.execute("update core.ac01 set aac003 = %s where aac001 = %s", (f"改名{rnd.randint(1, 99)}", p))
            return cur.rowcount
        d = details.pop(rnd.randrange(len(details)))
        cur = conn.execute("delete from core.ac43 where detail_id = %s", (d,))
        return cur.rowcount


def in_transaction(watch: psycopg.Connection[Any], store_db: str) -> bool:
    row = watch.execute(
        "select count(*) from pg_stat_activity where application_name = 'hub-sync' and datname = %s "
        "and xact_start is not null and state <> 'idle'",
        (store_db,),
    ).fetchone()
    return bool(row and row[0])


def batches(watch: psycopg.Connection[Any]) -> int:
    row = watch.execute("select batches from sync_checkpoint where feed = 'core'").fetchone()
    return int(row[0]) if row else 0


def kill_loop(
    core_url: str,
    store_url: str,
    burst: Burst,
    *,
    min_kills: int,
    min_mid_batch: int,
    batch_size: int,
    seed: int = 11,
) -> KillLog:
    """Keep a worker running and SIGKILL it at random moments until the burst ends and enough kills landed.

    Most kills wait for an open store transaction first, so some land inside a batch.
    """
    rnd = random.Random(seed)
    log = KillLog()
    store_db = pg.database_name(store_url)
    watch = psycopg.connect(pg.libpq(store_url), autocommit=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and (log.kills < min_kills or log.mid_batch < min_mid_batch or not burst.done):
        proc = start_worker(core_url, store_url, batch_size)
        log.restarts += 1
        try:
            time.sleep(rnd.uniform(0.3, 1.0))  # startup, then some work
            if rnd.random() < 0.7:
                until = time.monotonic() + 2
                while time.monotonic() < until and not in_transaction(watch, store_db):
                    time.sleep(0.001)
            else:
                time.sleep(rnd.uniform(0.0, 0.3))
            before = batches(watch)
            open_tx = in_transaction(watch, store_db)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            log.kills += 1
            # strictly mid-batch: a batch transaction was open and none committed before the kill
            log.mid_batch += int(open_tx and batches(watch) == before)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    watch.close()
    return log
