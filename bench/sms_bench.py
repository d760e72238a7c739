"""SMS throughput on loopback: the hub's worker (smpplib transport, states in PostgreSQL, receipts on)
against smpp34's own asyncio client sending the same messages to the same SMSC (the baseline).

    .venv/bin/python -m bench.sms_bench [--messages 20000]

Needs PostgreSQL on 127.0.0.1:5432 (or HUB_TEST_PG_URL). Writes bench/results/sms-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import threading
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import smpp34

from hub import migrations, pg
from hub.config.sms import LimitSettings, SmppSettings, SmsSettings
from sms import text
from sms.smpp import SmppTransport
from sms.worker import Worker
from tests.sms.smsc import Smsc

ADMIN = os.environ.get("HUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BODY = "【湖南社保】您的验证码为246810，5分钟内有效，请勿泄露给他人。"


def fresh_db() -> str:
    url = pg.with_database(ADMIN, f"bench_sms_{uuid.uuid4().hex[:8]}")
    pg.ensure_database(url)
    migrations.upgrade("hubdb", url)
    return url


def fill(url: str, n: int) -> None:
    with pg.connect(url) as conn:
        conn.execute(
            "insert into hub.sms_message (recipient, template, personalisation, priority, purpose) "
            "select (13000000000 + g)::text, 'verification_code', '{\"code\": \"246810\"}', 0, 'bench' "
            "from generate_series(1, %s) g",
            (n,),
        )
        conn.commit()


def count(url: str, states: tuple[str, ...]) -> int:
    with pg.connect(url) as conn:
        row = conn.execute("select count(*) from hub.sms_message where status = any(%s)", (list(states),)).fetchone()
    return int(row[0]) if row else 0


def run_hub(n: int, binds: int, window: int) -> dict[str, Any]:
    smsc = Smsc().start()
    url = fresh_db()
    try:
        fill(url, n)
        cfg = SmsSettings(
            transport="smpp",
            poll_seconds=0.01,
            smpp=SmppSettings(port=smsc.port, binds=binds, window=window, rate_per_bind=100_000),
            limits=LimitSettings(
                per_number_minute=10**6,
                per_number_hour=10**6,
                per_number_day=10**6,
                per_prefix_hour=10**9,
                per_ip_hour=10**9,
                daily_budget_yuan=10**9,
            ),
        )
        worker = Worker(url, SmppTransport(cfg.smpp), cfg)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        started = time.monotonic()
        thread.start()
        sent_at = delivered_at = None
        samples: list[tuple[float, int]] = []
        while time.monotonic() - started < 900:
            done = count(url, ("sent", "delivered"))
            delivered = count(url, ("delivered",))
            samples.append((round(time.monotonic() - started, 3), done))
            if sent_at is None and done >= n:
                sent_at = time.monotonic() - started
            if delivered >= n:
                delivered_at = time.monotonic() - started
                break
            time.sleep(0.2)
        stop.set()
        thread.join(60)
        return {
            "client": "hub worker (smpplib)",
            "binds": binds,
            "window": window,
            "messages": n,
            "seconds_to_sent": sent_at,
            "seconds_to_delivered": delivered_at,
            "sent_per_second": round(n / sent_at, 1) if sent_at else None,
            "delivered_per_second": round(n / delivered_at, 1) if delivered_at else None,
            "smsc_accepted": len(smsc.snapshot()),
            "samples": samples,
        }
    finally:
        smsc.stop()
        pg.drop_database(url)


async def _baseline(port: int, n: int, binds: int, window: int) -> float:
    sessions = []
    for i in range(binds):
        client = smpp34.Client("127.0.0.1", port, f"base{i}", "x", window_size=window, inbound_capacity=65536)
        sessions.append((client, await client.connect()))
    payload = text.encode([BODY], 0)[0].short_message
    per = n // binds

    async def one_bind(smsc: Any) -> None:
        sem = asyncio.Semaphore(window)

        async def submit(k: int) -> None:
            async with sem:
                await smsc.submit_sm(
                    f"{13000000000 + k}", payload, source_addr="10690012333", data_coding=8, registered_delivery=1
                )

        await asyncio.gather(*(submit(k) for k in range(per)))

    started = time.monotonic()
    await asyncio.gather(*(one_bind(s) for _, s in sessions))
    elapsed = time.monotonic() - started
    for client, smsc in sessions:
        with contextlib.suppress(Exception):  # smpp34's SMSC may close instead of answering unbind
            await asyncio.wait_for(smsc.unbind(), 2)
        await client.stop()
    return elapsed


def run_baseline(n: int, binds: int, window: int) -> dict[str, Any]:
    smsc = Smsc(receipts=False).start()
    try:
        elapsed = asyncio.run(_baseline(smsc.port, n, binds, window))
        return {
            "client": "smpp34 asyncio (baseline)",
            "binds": binds,
            "window": window,
            "messages": n,
            "seconds_to_sent": elapsed,
            "sent_per_second": round(n / elapsed, 1),
            "smsc_accepted": len(smsc.snapshot()),
        }
    finally:
        smsc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window1-messages", type=int, default=2_000)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    for binds, window, n in ((1, 1, args.window1_messages), (1, 64, args.messages), (4, 64, args.messages)):
        for fn in (run_baseline, run_hub):
            result = fn(n, binds, window)
            print({k: v for k, v in result.items() if k != "samples"})
            runs.append(result)
    out = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {p: version(p) for p in ("smpplib", "smpp34", "psycopg")},
        "settings": {"receipts": True, "states_in": "PostgreSQL (hub DB)", "segments_per_message": 1},
        "runs": runs,
    }
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    path = Path("bench/results") / f"sms-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()
